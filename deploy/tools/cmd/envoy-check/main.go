// envoy-check validates an Envoy bootstrap file (YAML) against Envoy's own API: it is decoded
// strictly into envoy.config.bootstrap.v3.Bootstrap (unknown fields and unknown @type names are
// errors), then every message, the ones packed in typed_config included, is checked against
// the protoc-gen-validate rules Envoy itself enforces at load. Exit status 1 when invalid.
//
//	envoy-check FILE
package main

import (
	"errors"
	"fmt"
	"os"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// The extensions deploy/envoy/envoy.yaml uses: registered so that typed_config resolves.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

type validatable interface{ ValidateAll() error }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: envoy-check FILE")
		os.Exit(2)
	}
	source, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	asJSON, err := yaml.YAMLToJSON(source)
	if err != nil {
		fail(fmt.Errorf("YAML: %w", err))
	}
	var config bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(asJSON, &config); err != nil {
		fail(fmt.Errorf("decoding as envoy.config.bootstrap.v3.Bootstrap: %w", err))
	}
	if err := validate(&config, "bootstrap"); err != nil {
		fail(err)
	}
	fmt.Println("envoy-check: valid envoy.config.bootstrap.v3.Bootstrap")
}

// validate runs the message's own rules, then those of every message packed in an Any below it.
func validate(message proto.Message, path string) error {
	if v, ok := message.(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var errs []error
	walk(message.ProtoReflect(), path, &errs)
	return errors.Join(errs...)
}

func walk(message protoreflect.Message, path string, errs *[]error) {
	if any, ok := message.Interface().(*anypb.Any); ok {
		inner, err := any.UnmarshalNew()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		if err := validate(inner, path+"("+any.GetTypeUrl()+")"); err != nil {
			*errs = append(*errs, err)
		}
		return
	}
	message.Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		name := path + "." + string(field.Name())
		switch {
		case field.IsList() && field.Message() != nil:
			list := value.List()
			for i := 0; i < list.Len(); i++ {
				walk(list.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), errs)
			}
		case field.IsMap() && field.MapValue().Message() != nil:
			value.Map().Range(func(key protoreflect.MapKey, entry protoreflect.Value) bool {
				walk(entry.Message(), fmt.Sprintf("%s[%v]", name, key.Interface()), errs)
				return true
			})
		case field.Message() != nil && !field.IsList() && !field.IsMap():
			walk(value.Message(), name, errs)
		}
		return true
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "envoy-check:", err)
	os.Exit(1)
}
