package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/otelsec/otelsec/internal/k8s/k8stest"
	"github.com/otelsec/otelsec/internal/policy"
	"github.com/otelsec/otelsec/internal/policy/policytest"
)

func readCRD(t *testing.T, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.UnmarshalStrict(data, &crd), path)
	return &crd
}

// TestCRDs: both CRDs decode strictly, name the kinds the extension reads, and their schema
// has exactly the fields of the policy document types (internal/policy), at every level.
func TestCRDs(t *testing.T) {
	for _, tt := range []struct {
		file, kind, plural, singular string
		scope                        apiextensionsv1.ResourceScope
	}{
		{"crds/runtimepolicies.yaml", policy.KindCluster, policy.ResourceCluster, "runtimepolicy", apiextensionsv1.ClusterScoped},
		{"crds/runtimepolicynamespaceds.yaml", policy.KindNamespaced, policy.ResourceNamespaced, "runtimepolicynamespaced", apiextensionsv1.NamespaceScoped},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			crd := readCRD(t, tt.file)
			assert.Equal(t, tt.plural+"."+policy.Group, crd.Name)
			assert.Equal(t, policy.Group, crd.Spec.Group)
			assert.Equal(t, tt.scope, crd.Spec.Scope)
			assert.Equal(t, apiextensionsv1.CustomResourceDefinitionNames{Kind: tt.kind, ListKind: tt.kind + "List", Plural: tt.plural,
				Singular: tt.singular, ShortNames: crd.Spec.Names.ShortNames, Categories: []string{"otelsec"}}, crd.Spec.Names)
			require.Len(t, crd.Spec.Versions, 1)
			v := crd.Spec.Versions[0]
			assert.Equal(t, policy.Version, v.Name)
			assert.True(t, v.Served)
			assert.True(t, v.Storage)
			spec := v.Schema.OpenAPIV3Schema.Properties["spec"]
			checkSchema(t, "spec", reflect.TypeOf(policy.Spec{}), spec)
		})
	}
}

// checkSchema compares a schema's properties with a Go type's JSON fields, recursively.
func checkSchema(t *testing.T, path string, typ reflect.Type, s apiextensionsv1.JSONSchemaProps) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Slice:
		require.NotNil(t, s.Items, path)
		if typ.Elem().Name() == "IntOrString" {
			assert.True(t, s.Items.Schema.XIntOrString, path)
			return
		}
		assert.Equal(t, "array", s.Type, path)
		checkSchema(t, path+"[]", typ.Elem(), *s.Items.Schema)
	case reflect.Struct:
		if typ.Name() == "LabelSelector" {
			assert.Equal(t, []string{"matchExpressions", "matchLabels"}, sortedKeys(s.Properties), path)
			return
		}
		assert.Equal(t, "object", s.Type, path)
		var fields []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, name)
			checkSchema(t, path+"."+name, typ.Field(i).Type, s.Properties[name])
		}
		slices.Sort(fields)
		assert.Equal(t, fields, sortedKeys(s.Properties), path)
	case reflect.String:
		assert.Equal(t, "string", s.Type, path)
	case reflect.Bool:
		assert.Equal(t, "boolean", s.Type, path)
	case reflect.Int64:
		assert.Equal(t, "integer", s.Type, path)
	default:
		t.Errorf("%s: unexpected Go type %s", path, typ)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestChartShipsTheCRDs: the chart's crds/ (which Helm installs before the templates) are
// the plain manifests' CRDs, and render with --include-crds.
func TestChartShipsTheCRDs(t *testing.T) {
	for _, f := range []string{"runtimepolicies.yaml", "runtimepolicynamespaceds.yaml"} {
		plain, err := os.ReadFile(filepath.Join("crds", f))
		require.NoError(t, err)
		chart, err := os.ReadFile(filepath.Join(chartDir, "crds", f))
		require.NoError(t, err)
		assert.Equal(t, string(plain), string(chart), f)
	}
	cmd := exec.Command("go", "tool", "-modfile=../../tools/go.mod", "helm", "template", "otelsec", chartDir, "--namespace", "otelsec", "--include-crds")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var names []string
	for _, doc := range strings.Split(string(out), "\n---") {
		var crd apiextensionsv1.CustomResourceDefinition
		if !strings.Contains(doc, "kind: CustomResourceDefinition") {
			continue
		}
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &crd))
		names = append(names, crd.Name)
	}
	assert.Equal(t, []string{"runtimepolicies.otelsec.io", "runtimepolicynamespaceds.otelsec.io"}, names)
}

// TestAPIServerServesThePolicies installs the CRDs in a real API server and creates every
// library policy and a document with every field, with unknown fields refused; what the API
// server gives back compiles to the same rules as the files.
func TestAPIServerServesThePolicies(t *testing.T) {
	env := k8stest.Start(t)
	assert.Equal(t, []string{"runtimepolicies.otelsec.io", "runtimepolicynamespaceds.otelsec.io"}, policytest.InstallCRDs(t, env.Config, "crds"))
	env.Namespace(t, "shop")
	client, err := dynamic.NewForConfig(env.Config)
	require.NoError(t, err)
	ctx := context.Background()

	files, err := policy.Files("../../policies", "../../internal/policy/testdata/full.yaml")
	require.NoError(t, err)
	require.Len(t, files, 11)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		docs, errs := policy.Parse(f, data)
		require.Empty(t, errs)
		for _, doc := range docs {
			js, err := yaml.YAMLToJSON(mustYAML(t, doc.Document))
			require.NoError(t, err)
			var u unstructured.Unstructured
			require.NoError(t, u.UnmarshalJSON(js))
			gvr := schema.GroupVersionResource{Group: policy.Group, Version: policy.Version, Resource: policy.ResourceCluster}
			var ri dynamic.ResourceInterface = client.Resource(gvr)
			if doc.Kind == policy.KindNamespaced {
				gvr.Resource = policy.ResourceNamespaced
				ri = client.Resource(gvr).Namespace(doc.Metadata.Namespace)
			}
			got, err := ri.Create(ctx, &u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
			require.NoError(t, err, "%s %s", f, doc.Name())
			back, err := got.MarshalJSON()
			require.NoError(t, err)
			fromAPI, errs := policy.FromJSON(back)
			require.Empty(t, errs)
			want, err := policy.Compile([]*policy.Policy{doc})
			require.NoError(t, err)
			have, err := policy.Compile([]*policy.Policy{fromAPI})
			require.NoError(t, err)
			for i := range want.Rules {
				want.Rules[i].Source = policy.SourceCRD
			}
			assert.Equal(t, want.Rules, have.Rules, "%s %s", f, doc.Name())
		}
	}

	// The schema refuses what it can tell: an unknown field, an unknown event.
	rp := client.Resource(schema.GroupVersionResource{Group: policy.Group, Version: policy.Version, Resource: policy.ResourceCluster})
	for rule, want := range map[string]string{
		`{"name":"a","event":"process.exec","action":"audit","selector":{}}`: `strict decoding error: unknown field "spec.rules[0].selector"`,
		`{"name":"a","event":"process.fork","action":"audit"}`:               `spec.rules[0].event: Unsupported value: "process.fork"`,
	} {
		bad := &unstructured.Unstructured{}
		require.NoError(t, bad.UnmarshalJSON([]byte(`{"apiVersion":"otelsec.io/v1alpha1","kind":"RuntimePolicy","metadata":{"name":"bad"},"spec":{"rules":[`+rule+`]}}`)))
		_, err = rp.Create(ctx, bad, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
	}
}

func mustYAML(t *testing.T, v any) []byte {
	t.Helper()
	js, err := json.Marshal(v)
	require.NoError(t, err)
	return js
}
