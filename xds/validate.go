package xds

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// allValidator is what protoc-gen-validate generates on every Envoy message.
type allValidator interface{ ValidateAll() error }

// Validate runs ValidateAll on m and on the content of every
// google.protobuf.Any inside it, at any depth. An Any whose type is not
// linked into the binary is an error: the caller must import the package
// that defines it.
func Validate(m proto.Message) error {
	return validateAt(string(m.ProtoReflect().Descriptor().FullName()), m)
}

func validateAt(path string, m proto.Message) error {
	var errs []error
	if v, ok := m.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	errs = append(errs, walkAnys(path, m.ProtoReflect())...)
	return errors.Join(errs...)
}

// walkAnys finds every Any below msg and validates what it holds.
func walkAnys(path string, msg protoreflect.Message) []error {
	if a, ok := msg.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return []error{fmt.Errorf("%s: unpacking %s: %w", path, a.GetTypeUrl(), err)}
		}
		if err := validateAt(path+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", inner); err != nil {
			return []error{err}
		}
		return nil
	}
	var errs []error
	msg.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				errs = append(errs, walkAnys(fmt.Sprintf("%s[%d]", name, i), l.Get(i).Message())...)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				errs = append(errs, walkAnys(fmt.Sprintf("%s[%v]", name, k.Interface()), mv.Message())...)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			errs = append(errs, walkAnys(name, v.Message())...)
		}
		return true
	})
	return errs
}
