package provisioning

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// filler sets every exported field reachable from a value to something
// non-zero and deterministic: two fills give equal values in separate
// memory. A field added to Record later is filled too.
type filler struct{ n int }

func (f *filler) next() int { f.n++; return f.n }

var timeType = reflect.TypeFor[time.Time]()

func (f *filler) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k)
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(int64(1_700_000_000+f.next()), 0).UTC()))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.next() % 100))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.next() % 100))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.next()))
	default:
		panic(fmt.Sprintf("filler: a %s field: teach the filler (and check clone) about it", v.Type()))
	}
}

// mutate changes, in place, everything reachable from v that a shared
// copy would see change.
func mutate(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(v.Elem())
		}
	case reflect.Slice:
		for i := range v.Len() {
			mutate(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			mutate(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				mutate(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	}
}

func filledRecord() *Record {
	r := new(Record)
	(&filler{}).fill(reflect.ValueOf(r).Elem())
	r.Format = FormatVersion
	return r
}

func TestCloneIsEqualAndIndependent(t *testing.T) {
	t.Parallel()
	orig, ref := filledRecord(), filledRecord()
	if !reflect.DeepEqual(orig, ref) {
		t.Fatal("two fills differ: the filler is not deterministic")
	}
	c := orig.clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("clone differs from the record:\n%+v\n%+v", c, orig)
	}
	cj, _ := json.Marshal(c)
	oj, _ := json.Marshal(orig)
	if string(cj) != string(oj) {
		t.Fatalf("clone encodes differently:\n%s\n%s", cj, oj)
	}
	mutate(reflect.ValueOf(c).Elem())
	if reflect.DeepEqual(c, orig) {
		t.Fatal("mutate changed nothing: the test proves nothing")
	}
	if !reflect.DeepEqual(orig, ref) {
		t.Fatal("changing the clone changed the record: they share memory")
	}
	// And the other way round.
	c = orig.clone()
	mutate(reflect.ValueOf(orig).Elem())
	if !reflect.DeepEqual(c, ref) {
		t.Fatal("changing the record changed its clone: they share memory")
	}
	if (*Record)(nil).clone() != nil {
		t.Fatal("clone of nil is not nil")
	}
}

// A record as stored (nil slices and maps, omitted fields) clones to one
// that encodes byte for byte the same.
func TestCloneOfAStoredRecord(t *testing.T) {
	t.Parallel()
	for _, r := range []*Record{{Key: "sub_1"}, filledRecord()} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeRecord(data)
		if err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(dec.clone())
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(dec); string(again) != string(want) {
			t.Fatalf("clone of a decoded record encodes as\n%s\nwant\n%s", again, want)
		}
	}
}
