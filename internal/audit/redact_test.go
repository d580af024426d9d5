package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodedRedact is the reference: decode the whole document, walk it.
func decodedRedact(name string, v any) any {
	if name != "" && isSecret(name) {
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if isOmitted(k) {
				delete(x, k)
				continue
			}
			x[k] = decodedRedact(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = decodedRedact(name, e)
		}
		return x
	case string:
		return clipValue(x)
	}
	return v
}

// checkRedact compares redactJSON with the reference on one input.
func checkRedact(t *testing.T, body []byte) {
	t.Helper()
	out, ok := redactJSON(body)
	if valid := json.Valid(body); ok != valid {
		t.Fatalf("redactJSON(%q) ok = %v, but encoding/json says valid = %v", body, ok, valid)
	}
	if !ok {
		return
	}
	if !json.Valid(out) || !utf8.Valid(out) {
		t.Fatalf("redactJSON(%q) = %q: not valid JSON", body, out)
	}
	// The reference's result is stored as JSON too (a clipped string may
	// end in half a character, which encoding replaces).
	ref, _ := json.Marshal(decodedRedact("", decodeNumbers(body)))
	got, want := decodeNumbers(out), decodeNumbers(ref)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("redactJSON(%q)\n got %v\nwant %v", body, got, want)
	}
}

// decodeNumbers decodes a valid document, keeping numbers as written.
func decodeNumbers(b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	d.Decode(&v)
	return v
}

func TestRedactJSONCases(t *testing.T) {
	long := strings.Repeat("é", 700)
	for _, body := range []string{
		`{}`, `[]`, `"x"`, `12`, `-0.5e+3`, `true`, `null`, ` { "a" : [ 1 , 2 ] } `,
		`{"Plaintext":"c2VjcmV0","KeyId":"k"}`,
		`{"Plaintext":{"nested":["a",{"b":1}]},"k":"v"}`,
		`{"Tags":[{"Key":"password","Value":"x"}],"SecretString":["a","b"]}`,
		`{"Pass\u0077ord":"hunter2"}`,
		`{"s":"` + long + `","t":"\u00e9\n\"` + strings.Repeat("a", 2000) + `"}`,
		`{"a":1,"a":2}`,
		`{"CiphertextBlob":"` + strings.Repeat("A<b+/=", 400) + `","x":"` + strings.Repeat("a", 1030) + `\n"}`,
		"{\"k\xff\":\"v\xfe\"}",
		// invalid
		``, `{`, `{"a"}`, `{"a":}`, `[1,]`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `tru`, `nul`, `"\x"`, `"\u12"`, "\"a\x01\"", `{} {}`, `{"a":1}x`,
		`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		if strings.Contains(body, strings.Repeat("[", 100)) {
			// Deeper than maxDepth: recorded as unparsed, though valid.
			if _, ok := redactJSON([]byte(body)); ok {
				t.Fatalf("a document nested deeper than %d was accepted", maxDepth)
			}
			continue
		}
		checkRedact(t, []byte(body))
	}
}

// TestRedactJSONRandom compares with the reference on random documents.
func TestRedactJSONRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"KeyId", "Plaintext", "password", "Message", "Tags", "note", "SecretAccessKey", "x", "CiphertextBlob", "Mac"}
	var gen func(depth int) any
	gen = func(depth int) any {
		switch n := rng.IntN(7); {
		case depth > 4 || n == 0:
			if rng.IntN(2) == 0 {
				return strings.Repeat("QUJD+/=", rng.IntN(400))
			}
			return strings.Repeat("ab\"\\\n", rng.IntN(400))
		case n == 1:
			return rng.Float64() * 1e6
		case n == 2:
			return rng.IntN(2) == 0
		case n == 3:
			return nil
		case n == 4:
			a := make([]any, rng.IntN(4))
			for i := range a {
				a[i] = gen(depth + 1)
			}
			return a
		default:
			m := map[string]any{}
			for range rng.IntN(5) {
				m[names[rng.IntN(len(names))]+strconv.Itoa(rng.IntN(2))[:rng.IntN(2)]] = gen(depth + 1)
			}
			return m
		}
	}
	for range 2000 {
		b, _ := json.MarshalIndent(gen(0), "", strings.Repeat(" ", rng.IntN(3)))
		checkRedact(t, b)
	}
}

func FuzzRedactJSON(f *testing.F) {
	for _, s := range []string{`{"Plaintext":"c2VjcmV0","KeyId":"k"}`, `{"CiphertextBlob":"x","a":[{"Mac":1,"b":2}],"Signature":{}}`, `[1,"a",{"password":[1,2]}]`, `{"a":"\u00e9"}`, `-1.5e-3`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		if _, ok := redactJSON(body); !ok {
			// Either invalid or deeper than maxDepth; the reference agrees
			// on validity for anything shallower.
			if json.Valid(body) && depthOf(decodeNumbers(body)) <= maxDepth {
				t.Fatalf("valid document %q refused", body)
			}
			return
		}
		checkRedact(t, body)
	})
}

func depthOf(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}
