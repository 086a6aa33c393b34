package provisioning

import (
	"reflect"
	"sync"
)

// clone returns a deep copy of r: nothing reachable from the copy is
// shared with r, except what cannot change (strings, and the values of
// structs with unexported fields, such as time.Time, copied whole).
//
// It lets a writer keep the record it last read or wrote (a snapshot)
// and start its next write from a copy, instead of decoding the stored
// JSON again: decoding is most of a write's CPU. It is generic over the
// record's type, so a field added to Record (or to anything it holds) is
// copied without anyone remembering to; clone_test.go fills every field
// and proves the copy equal and independent.
func (r *Record) clone() *Record {
	if r == nil {
		return nil
	}
	c := new(Record)
	deepCopy(reflect.ValueOf(c).Elem(), reflect.ValueOf(r).Elem())
	return c
}

// deepCopy sets dst, a settable value of src's type, to a deep copy of src.
func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if holdsRefs(src.Type().Elem()) {
			for i := range src.Len() {
				deepCopy(s.Index(i), src.Index(i))
			}
		} else {
			reflect.Copy(s, src)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		refs := holdsRefs(src.Type().Elem())
		for it := src.MapRange(); it.Next(); {
			v := it.Value()
			if refs {
				nv := reflect.New(v.Type()).Elem()
				deepCopy(nv, v)
				v = nv
			}
			m.SetMapIndex(it.Key(), v) // keys are strings: immutable
		}
		dst.Set(m)
	case reflect.Struct:
		dst.Set(src) // every field, unexported ones included
		for _, i := range refFields(src.Type()) {
			deepCopy(dst.Field(i), src.Field(i))
		}
	case reflect.Array:
		dst.Set(src)
		if holdsRefs(src.Type().Elem()) {
			for i := range src.Len() {
				deepCopy(dst.Index(i), src.Index(i))
			}
		}
	case reflect.Interface:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		deepCopy(v, src.Elem())
		dst.Set(v)
	default: // bool, numbers, strings: values
		dst.Set(src)
	}
}

// typePlans caches, per type, whether a value can share mutable memory
// (holdsRefs) and which exported fields of a struct need a deep copy
// (refFields).
var typePlans sync.Map // reflect.Type → *typePlan

type typePlan struct {
	refs   bool
	fields []int
}

func planOf(t reflect.Type) *typePlan {
	if p, ok := typePlans.Load(t); ok {
		return p.(*typePlan)
	}
	p := &typePlan{}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		p.refs = true
	case reflect.Array:
		p.refs = holdsRefs(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			// An unexported field is copied with its struct's value
			// (time.Time's location pointer, which nothing changes).
			if f.IsExported() && holdsRefs(f.Type) {
				p.fields = append(p.fields, i)
			}
		}
		p.refs = len(p.fields) > 0
	}
	typePlans.Store(t, p)
	return p
}

func holdsRefs(t reflect.Type) bool { return planOf(t).refs }

func refFields(t reflect.Type) []int { return planOf(t).fields }
