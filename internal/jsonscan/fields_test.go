package jsonscan

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStringFieldsInMarshalOrder(t *testing.T) {
	type request struct {
		First string `json:"first_name"`
		Email string `json:"email,omitempty"`
		Zip9  string `json:"zip_9"`
	}
	assert.Equal(t, []StringField{
		{Name: "first_name", Index: 0}, {Name: "email", Index: 1, OmitEmpty: true}, {Name: "zip_9", Index: 2},
	}, StringFields(reflect.TypeFor[request]()))
}

type kind string

func (k kind) MarshalText() ([]byte, error) { return []byte(k), nil }

type jsonMarshalingStruct struct {
	A string `json:"a"`
}

func (jsonMarshalingStruct) MarshalJSON() ([]byte, error) { return []byte(`{}`), nil }

func TestStringFieldsRefuseWhatTheyCannotPredict(t *testing.T) {
	type noTag struct{ A string }
	type dash struct {
		A string `json:"-"`
	}
	type asString struct {
		A string `json:"a,string"`
	}
	type number struct {
		A int `json:"a"`
	}
	type named struct {
		A kind `json:"a"`
	}
	type escaped struct {
		A string `json:"a<b"`
	}
	dup := reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[string](), Tag: `json:"a"`},
		{Name: "B", Type: reflect.TypeFor[string](), Tag: `json:"a"`},
	})
	type unexported struct {
		A string `json:"a"`
		b string
	}
	for name, typ := range map[string]reflect.Type{
		"no tag": reflect.TypeFor[noTag](), "dash": reflect.TypeFor[dash](), "string option": reflect.TypeFor[asString](),
		"int": reflect.TypeFor[number](), "named string": reflect.TypeFor[named](), "escaped name": reflect.TypeFor[escaped](),
		"duplicate name": dup, "unexported": reflect.TypeFor[unexported](), "marshaler": reflect.TypeFor[kind](),
		"custom marshaler": reflect.TypeFor[jsonMarshalingStruct](), "not a struct": reflect.TypeFor[string](),
	} {
		assert.Nil(t, StringFields(typ), "%s: layout predicted", name)
	}
	_ = unexported{b: ""}
}
