// k8s-check decodes every object of a multi-document YAML stream (a file, or - for stdin: e.g.
// `kustomize build deploy/k8s | k8s-check -`) into its Kubernetes API type the way the API
// server's strict field validation does: an unknown or duplicated field, a wrong type or an
// unknown kind is an error. Exit status 1 when any object fails.
//
//	k8s-check FILE|-
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-check FILE|-")
		os.Exit(2)
	}
	var input io.Reader = os.Stdin
	if os.Args[1] != "-" {
		file, err := os.Open(os.Args[1])
		if err != nil {
			fail(err)
		}
		defer file.Close()
		input = file
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			fail(err)
		}
	}
	decoder := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{Yaml: true, Strict: true})
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	var errs []error
	count := 0
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(err)
		}
		if len(bytes.TrimSpace(document)) == 0 {
			continue
		}
		object, kind, err := decoder.Decode(document, nil, nil)
		if err != nil {
			where := "document"
			if kind != nil {
				where = kind.String()
			}
			errs = append(errs, fmt.Errorf("object %d (%s): %w", count+1, where, err))
		} else if object == nil {
			errs = append(errs, fmt.Errorf("object %d: decoded to nothing", count+1))
		}
		count++
	}
	if count == 0 {
		errs = append(errs, errors.New("no objects: nothing was checked"))
	}
	if len(errs) > 0 {
		fail(errors.Join(errs...))
	}
	fmt.Printf("k8s-check: %d objects decode strictly\n", count)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "k8s-check:", err)
	os.Exit(1)
}
