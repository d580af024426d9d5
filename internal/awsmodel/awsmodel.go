package awsmodel

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
)

//go:generate sh -c "go run ./trim -botocore \"$(python3 -c 'import botocore,os;print(os.path.dirname(botocore.__file__))')/data\" backup kms organizations cloudtrail iam"

//go:embed models/*.json
var models embed.FS

// Model is one service's trimmed botocore model.
type Model struct {
	Metadata   Metadata
	Operations map[string]Operation
	Shapes     map[string]*Shape

	patterns sync.Map // shape name -> *regexp.Regexp, or nil when Go cannot compile it
}

// Metadata is the model's metadata block.
type Metadata struct {
	Protocol     string
	TargetPrefix string
}

// Operation is one operation of the model.
type Operation struct {
	Name   string
	HTTP   HTTP
	Input  *Ref
	Output *Ref
	Errors []Ref
}

// HTTP is where a restJson operation is routed and the status it
// answers on success (0 when the model leaves it to the default, 200).
type HTTP struct {
	Method       string
	RequestURI   string
	ResponseCode int
}

// HasError reports whether the operation's model lists the error shape
// code among those it answers.
func (o Operation) HasError(code string) bool {
	for _, r := range o.Errors {
		if r.Shape == code {
			return true
		}
	}
	return false
}

// Ref names a shape, with where a member travels in restJson requests.
type Ref struct {
	Shape        string
	Location     string // "", "uri", "querystring", "header", "headers"
	LocationName string
}

// Shape is a type of the model with its constraints.
type Shape struct {
	Type      string
	Members   map[string]Ref
	Required  []string
	Min, Max  *float64
	Pattern   string
	Enum      []string
	Member    *Ref // list element
	Key       *Ref // map key
	Value     *Ref // map value
	Exception bool
	Sensitive bool
	Flattened bool // awsQuery lists and maps without .member/.entry
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Model{}
)

// Load returns the embedded model of service ("kms", "backup",
// "organizations", "cloudtrail", "iam"). It panics when the service has no
// embedded model: the set is fixed at build time.
func Load(service string) *Model {
	loadMu.Lock()
	defer loadMu.Unlock()
	if m, ok := loaded[service]; ok {
		return m
	}
	b, err := models.ReadFile("models/" + service + ".json")
	if err != nil {
		panic(fmt.Sprintf("awsmodel: no embedded model for %s", service))
	}
	m := new(Model)
	if err := json.Unmarshal(b, m); err != nil {
		panic(fmt.Sprintf("awsmodel: embedded model for %s: %v", service, err))
	}
	loaded[service] = m
	return m
}

// ErrorShape returns the exception shape named code, or nil when the
// model does not define one (framework errors such as ValidationException
// or AccessDeniedException in KMS).
func (m *Model) ErrorShape(code string) *Shape {
	s := m.Shapes[code]
	if s == nil || !s.Exception {
		return nil
	}
	return s
}

// javaUnicodeEscape is Java's \uXXXX, which the models' patterns use
// ("[\u0020-\u00FF]*") and Go's regexp spells \x{XXXX}.
var javaUnicodeEscape = regexp.MustCompile(`\\u([0-9a-fA-F]{4})`)

// pattern compiles a shape's pattern once, anchored at both ends as AWS
// matches it; nil when the pattern uses syntax Go's regexp lacks.
func (m *Model) pattern(name string, s *Shape) *regexp.Regexp {
	if v, ok := m.patterns.Load(name); ok {
		re, _ := v.(*regexp.Regexp)
		return re
	}
	p := javaUnicodeEscape.ReplaceAllString(s.Pattern, `\x{$1}`)
	re, err := regexp.Compile("^(?:" + p + ")$")
	if err != nil {
		re = nil
	}
	m.patterns.Store(name, re)
	return re
}
