package interaction

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/shch/fhirgw/gateway/fhirdate"
	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// pageParam carries the history cursor: versions older than this store sequence.
const pageParam = "_page"

func (s *Service) history(ctx context.Context, r store.Reader, req *Request, rt route) (*Response, error) {
	hq := store.HistoryQuery{Type: rt.typ, ID: rt.id, Count: s.cfg.DefaultCount}
	applied := url.Values{}
	for key, values := range req.Query {
		v := values[len(values)-1]
		switch key {
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				// 0 asks for the number of versions only, as in search.
				return nil, outcome.BadRequest("_count must be a non-negative integer, got %q", v)
			}
			hq.Count = min(n, s.cfg.MaxCount)
		case "_since":
			d, err := fhirdate.Parse(v)
			if err != nil || d.Precision < fhirdate.Second {
				return nil, outcome.BadRequest("_since must be an instant such as 2024-01-01T00:00:00Z, got %q", v)
			}
			hq.Since = d.Low
			applied.Set("_since", v)
		case pageParam:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return nil, outcome.BadRequest("%s %q is not a page of this history", pageParam, v)
			}
			hq.Before = n
		case "_format", "_pretty":
		default:
			return nil, outcome.BadRequest("history does not take the parameter %q", key)
		}
	}
	if rt.id != "" {
		if _, err := r.Read(ctx, rt.typ, rt.id); errors.Is(err, store.ErrNotFound) {
			return nil, outcome.NotFound("%s/%s is not known", rt.typ, rt.id)
		} else if err != nil {
			return nil, err
		}
	}
	page, err := r.History(ctx, hq)
	if err != nil {
		return nil, err
	}
	path := s.cfg.BaseURL
	if rt.typ != "" {
		path += "/" + rt.typ
	}
	if rt.id != "" {
		path += "/" + rt.id
	}
	path += "/_history"
	link := func(before int64) string {
		v := url.Values{}
		for k, vs := range applied {
			v[k] = vs
		}
		v.Set("_count", strconv.Itoa(hq.Count))
		if before > 0 {
			v.Set(pageParam, strconv.FormatInt(before, 10))
		}
		return path + "?" + v.Encode()
	}
	b := s.newBundle("history")
	b.Link = append(b.Link, bundleLink{"self", link(hq.Before)})
	if hq.Count == 0 {
		b.Total = &page.Total
	}
	if page.Next > 0 {
		b.Link = append(b.Link, bundleLink{"next", link(page.Next)})
	}
	for _, v := range page.Versions {
		e := bundleEntry{FullURL: s.fullURL(v.Type, v.ID)}
		e.Request = &entryRequest{Method: v.Method, URL: v.Type + "/" + v.ID}
		if v.Method == http.MethodPost {
			e.Request.URL = v.Type
		}
		e.Response = &entryResponse{ETag: ETag(v.Version), LastModified: instant(v.LastUpdated)}
		switch {
		case v.Deleted:
			e.Response.Status = "204 No Content"
		case v.Version == 1:
			e.Response.Status = "201 Created"
			e.Resource = v.Body
		default:
			e.Response.Status = "200 OK"
			e.Resource = v.Body
		}
		b.Entry = append(b.Entry, e)
	}
	return &Response{Status: http.StatusOK, Body: b.encode(), LastModified: time.Time{}}, nil
}
