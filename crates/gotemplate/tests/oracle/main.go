// Regenerates ../go_cases.json: each case's output (or error) from Go's text/template with
// Sprig's generic functions and Argo CD's additions, as Argo CD's ApplicationSet controller
// configures them. Run: go run . < ../go_cases.in.json > ../go_cases.json
// (needs github.com/Masterminds/sprig/v3 v3.3.0 and sigs.k8s.io/yaml; not built by cargo).
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/gosimple/slug"
	"sigs.k8s.io/yaml"
)

type Case struct {
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data,omitempty"`
	Option   string          `json:"option,omitempty"`
	Output   *string         `json:"output,omitempty"`
	Error    *string         `json:"error,omitempty"`
}

func main() {
	fm := sprig.GenericFuncMap()
	delete(fm, "env")
	delete(fm, "expandenv")
	delete(fm, "getHostByName")
	fm["toYaml"] = func(v any) string {
		d, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(d), "\n")
	}
	fm["fromYaml"] = func(s string) map[string]any {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	fm["fromYamlArray"] = func(s string) []any {
		var a []any
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			return []any{err.Error()}
		}
		return a
	}
	fm["normalize"] = sanitizeName
	fm["slugify"] = slugifyName
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	for i, c := range cases {
		var data any = map[string]any{}
		if len(c.Data) > 0 {
			if err := json.Unmarshal(c.Data, &data); err != nil {
				panic(err)
			}
		}
		opt := c.Option
		if opt == "" {
			opt = "missingkey=default"
		}
		t, err := template.New("").Funcs(fm).Parse(c.Template)
		if err == nil {
			var b bytes.Buffer
			err = t.Option(opt).Execute(&b, data)
			if err == nil {
				s := b.String()
				cases[i].Output = &s
			}
		}
		if err != nil {
			s := err.Error()
			cases[i].Error = &s
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cases); err != nil {
		panic(err)
	}
}

// sanitizeName is Argo CD's SanitizeName, as its documentation and code describe it.
func sanitizeName(name string) string {
	invalid := regexp.MustCompile("[^-a-z0-9.]")
	name = invalid.ReplaceAllString(strings.ToLower(name), "-")
	if len(name) > 253 {
		name = name[:253]
	}
	return strings.Trim(name, "-.")
}

// slugifyName is Argo CD's SlugifyName: [maxSize int] [smartTruncate bool] name.
func slugifyName(args ...any) string {
	maxSize, smart, name := 50, true, ""
	for i, a := range args {
		switch i {
		case len(args) - 1:
			name = a.(string)
		case 0:
			maxSize = a.(int)
		case 1:
			smart = a.(bool)
		}
	}
	slug.EnableSmartTruncate = smart
	slug.MaxLength = maxSize
	return slug.Make(sanitizeName(name))
}
