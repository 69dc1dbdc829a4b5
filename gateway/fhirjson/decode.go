package fhirjson

import (
	"encoding/json"
)

// Decode decodes one JSON value into the generic form encoding/json gives with
// UseNumber: map[string]any, []any, string, json.Number, bool and nil (a
// repeated key keeps its last value, as there). Trailing data is an error.
// It is for the indexer and the FHIRPath engine, which walk that form: built
// directly from the validated bytes, it costs about a third of what
// encoding/json's reflection-driven decoder does.
func Decode(data []byte) (any, error) {
	if err := checkValid(data); err != nil {
		return nil, err
	}
	v, _, err := decodeValue(data, skipSpace(data, 0))
	return v, err
}

// decodeValue decodes the value at data[i] of JSON json.Valid has accepted and
// returns it with the index after it.
func decodeValue(data []byte, i int) (any, int, error) {
	switch data[i] {
	case '{':
		m := make(map[string]any)
		i = skipSpace(data, i+1)
		for data[i] != '}' {
			end := skipString(data, i)
			key, err := unquote(data[i:end])
			if err != nil {
				return nil, 0, err
			}
			i = skipSpace(data, skipSpace(data, end)+1) // past the colon
			v, next, err := decodeValue(data, i)
			if err != nil {
				return nil, 0, err
			}
			m[key] = v
			i = skipSpace(data, next)
			if data[i] == ',' {
				i = skipSpace(data, i+1)
			}
		}
		return m, i + 1, nil
	case '[':
		a := []any{}
		i = skipSpace(data, i+1)
		for data[i] != ']' {
			v, next, err := decodeValue(data, i)
			if err != nil {
				return nil, 0, err
			}
			a = append(a, v)
			i = skipSpace(data, next)
			if data[i] == ',' {
				i = skipSpace(data, i+1)
			}
		}
		return a, i + 1, nil
	case '"':
		end := skipString(data, i)
		s, err := unquote(data[i:end])
		return s, end, err
	case 't':
		return true, i + 4, nil
	case 'f':
		return false, i + 5, nil
	case 'n':
		return nil, i + 4, nil
	default:
		end := skipValue(data, i)
		return json.Number(data[i:end]), end, nil
	}
}
