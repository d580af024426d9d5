// Command trim copies the parts of botocore's service models that coffer
// reads (operations, shapes and their constraints, error shapes) into
// internal/awsmodel/models, dropping the documentation. Run it through
// go generate in internal/awsmodel, which finds botocore with python3.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// The members of a model kept, at each level; everything else is dropped.
var (
	keepMetadata  = []string{"apiVersion", "protocol", "jsonVersion", "targetPrefix", "serviceId", "signingName"}
	keepOperation = []string{"name", "http", "input", "output", "errors"}
	keepShape     = []string{"type", "members", "required", "min", "max", "pattern", "enum", "member", "key", "value", "exception", "error", "sensitive", "flattened"}
	keepMember    = []string{"shape", "location", "locationName", "jsonvalue", "idempotencyToken"}
	keepRef       = []string{"shape"}
)

func main() {
	dir := flag.String("botocore", "", "botocore's data directory")
	out := flag.String("out", "models", "directory to write the trimmed models to")
	flag.Parse()
	for _, svc := range flag.Args() {
		if err := trim(*dir, *out, svc); err != nil {
			fmt.Fprintln(os.Stderr, "trim:", err)
			os.Exit(1)
		}
	}
}

func trim(dir, out, svc string) error {
	model, err := load(dir, svc)
	if err != nil {
		return err
	}
	t := map[string]any{"metadata": pick(model["metadata"], keepMetadata)}
	ops := map[string]any{}
	for name, op := range asMap(model["operations"]) {
		o := pick(op, keepOperation)
		for _, k := range []string{"input", "output"} {
			if ref, ok := o[k]; ok {
				o[k] = pick(ref, keepRef)
			}
		}
		if errs, ok := o["errors"].([]any); ok {
			for i, e := range errs {
				errs[i] = pick(e, keepRef)
			}
		}
		ops[name] = o
	}
	t["operations"] = ops
	shapes := map[string]any{}
	for name, sh := range asMap(model["shapes"]) {
		s := pick(sh, keepShape)
		if members, ok := s["members"].(map[string]any); ok {
			for m, ref := range members {
				members[m] = pick(ref, keepMember)
			}
		}
		for _, k := range []string{"member", "key", "value"} {
			if ref, ok := s[k]; ok {
				s[k] = pick(ref, keepMember)
			}
		}
		shapes[name] = s
	}
	t["shapes"] = shapes
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", svc, err)
	}
	return os.WriteFile(filepath.Join(out, svc+".json"), append(b, '\n'), 0o644)
}

// load reads the newest API version of a service's model, gzipped or not.
func load(dir, svc string) (map[string]any, error) {
	versions, err := filepath.Glob(filepath.Join(dir, svc, "*"))
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("no model for %s under %s", svc, dir)
	}
	sort.Strings(versions)
	base := filepath.Join(versions[len(versions)-1], "service-2.json")
	var r io.Reader
	if f, err := os.Open(base); err == nil {
		defer f.Close()
		r = f
	} else {
		f, err := os.Open(base + ".gz")
		if err != nil {
			return nil, fmt.Errorf("open %s model: %w", svc, err)
		}
		defer f.Close()
		if r, err = gzip.NewReader(f); err != nil {
			return nil, fmt.Errorf("read %s model: %w", svc, err)
		}
	}
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("decode %s model: %w", svc, err)
	}
	return m, nil
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func pick(v any, keys []string) map[string]any {
	in, out := asMap(v), map[string]any{}
	for _, k := range keys {
		if x, ok := in[k]; ok {
			out[k] = x
		}
	}
	return out
}
