package billing

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

// readsAsJSON fails unless scanEnvelope reads payload as encoding/json
// does: when it reads it (ok), json.Unmarshal decodes it without error to
// the same envelope; when encoding/json refuses it, so does the scan.
func readsAsJSON(t *testing.T, payload []byte) (scanned bool) {
	t.Helper()
	got, ok := scanEnvelope(payload)
	var want Envelope
	err := json.Unmarshal(payload, &want)
	switch {
	case ok && err != nil:
		t.Fatalf("scan read %q, which encoding/json refuses: %v", clip(payload), err)
	case ok && got != want:
		t.Fatalf("scan read %+v from %q, encoding/json %+v", got, clip(payload), want)
	case ok != json.Valid(payload) && ok:
		t.Fatalf("scan read %q, which is not valid JSON", clip(payload))
	}
	return ok
}

// readsEventAsJSON is readsAsJSON of scanEvent with the object, beside
// what ReadEvent decoded with encoding/json before the scan.
func readsEventAsJSON(t *testing.T, payload []byte) (scanned bool) {
	t.Helper()
	got, object, ok := scanEvent(payload, true)
	var want struct {
		Envelope
		Data struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	err := json.Unmarshal(payload, &want)
	switch {
	case ok && err != nil:
		t.Fatalf("scan read %q, which encoding/json refuses: %v", clip(payload), err)
	case ok && (got != want.Envelope || !bytes.Equal(object, want.Data.Object) || (object == nil) != (want.Data.Object == nil)):
		t.Fatalf("scan read %+v and object %q from %q; encoding/json %+v and %q", got, clip(object), clip(payload), want.Envelope, clip(want.Data.Object))
	}
	return ok
}

func clip(p []byte) string {
	if len(p) > 300 {
		return string(p[:300]) + "…"
	}
	return string(p)
}

// Every event of every API version family, as the builders write them,
// is read by the scan (not left to encoding/json), and read alike.
func TestScanEnvelopeReadsEveryEvent(t *testing.T) {
	t.Parallel()
	n := 0
	for _, v := range stripetest.Versions {
		for _, e := range builderEvents(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), v) {
			if !readsAsJSON(t, e.payload) || !readsEventAsJSON(t, e.payload) {
				t.Fatalf("%s (%s): not read by the scan", e.typ, v)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no events")
	}
}

// What the scan leaves to encoding/json, and what it refuses as
// encoding/json does.
func TestScanEnvelopeEdges(t *testing.T) {
	t.Parallel()
	const base = `"type":"invoice.paid","created":1700000000,"api_version":"2023-10-16","livemode":false`
	for _, tc := range []struct {
		name    string
		payload string
		scanned bool // read by the scan; otherwise left to encoding/json
	}{
		{"plain", `{"id":"evt_1",` + base + `,"data":{"object":{"a":[1,-2.5e+3,true,false,null,"x\"y\\u00e9"]}}}`, true},
		{"white space", " \t\r\n{ \"id\" : \"evt_1\" , " + base + " } \n", true},
		{"empty object", `{}`, true},
		{"nested empty", `{"id":"evt_1",` + base + `,"data":{"object":{},"x":[]}}`, true},
		{"duplicate key, the last counts", `{"id":"evt_1","id":"evt_2",` + base + `}`, true},
		{"unicode in other values", `{"id":"evt_1",` + base + `,"data":{"name":"Zoë 🎉"}}`, true},
		{"escape in a kept field", `{"id":"evt_\u0031",` + base + `}`, false},
		{"non-ASCII in a kept field", `{"id":"evt_é",` + base + `}`, false},
		{"key in other case", `{"ID":"evt_1",` + base + `}`, false},
		{"key with an escape", `{"\u0069d":"evt_1",` + base + `}`, false},
		{"null id", `{"id":null,` + base + `}`, false},
		{"created with a fraction", `{"id":"evt_1","created":1.5}`, false},
		{"created with an exponent", `{"id":"evt_1","created":1e9}`, false},
		{"created beyond int64", `{"id":"evt_1","created":92233720368547758070}`, false},
		{"livemode a string", `{"id":"evt_1","livemode":"true"}`, false},
		{"id a number", `{"id":1}`, false},
		{"bad literal deep", `{"id":"evt_1",` + base + `,"data":{"object":{"a":tru}}}`, false},
		{"bad number deep", `{"id":"evt_1",` + base + `,"data":{"object":{"a":01}}}`, false},
		{"bad number sign", `{"id":"evt_1",` + base + `,"data":{"a":-}}`, false},
		{"bad escape deep", `{"id":"evt_1",` + base + `,"data":{"a":"\x"}}`, false},
		{"short unicode escape", `{"id":"evt_1",` + base + `,"data":{"a":"\u12"}}`, false},
		{"control character in a string", "{\"id\":\"evt_1\"," + base + ",\"data\":{\"a\":\"x\ny\"}}", false},
		{"trailing comma", `{"id":"evt_1",` + base + `,}`, false},
		{"unclosed", `{"id":"evt_1",` + base, false},
		{"something after", `{"id":"evt_1",` + base + `} {}`, false},
		{"not an object", `["evt_1"]`, false},
		{"null", `null`, false},
		{"empty", ``, false},
		{"missing colon", `{"id" "evt_1"}`, false},
		{"single quotes", `{'id':'evt_1'}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readsAsJSON(t, []byte(tc.payload)); got != tc.scanned {
				t.Fatalf("scanned = %v, want %v", got, tc.scanned)
			}
			readsEventAsJSON(t, []byte(tc.payload))
		})
	}
	deep := `{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`
	if readsAsJSON(t, []byte(deep)) {
		t.Fatal("nesting beyond encoding/json's limit was read")
	}
	fine := `{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`
	if !readsAsJSON(t, []byte(fine)) {
		t.Fatal("nesting at encoding/json's limit was not read")
	}
}

func FuzzScanEnvelope(f *testing.F) {
	addSeeds(f)
	f.Add([]byte(`{"id":"evt_1","ID":"evt_2","type":"x","created":1,"data":[1,{"b":"\u00e9"}]}`))
	f.Add([]byte(`{"id":"evt_1","data":{"object":{"a":1},"Object":2}}`))
	f.Add([]byte(`{"id":"evt_1","data":{"object":{"a":1}},"data":{"x":1}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		readsAsJSON(t, payload)
		readsEventAsJSON(t, payload)
	})
}

func BenchmarkParseEnvelope(b *testing.B) {
	p := stripetest.InvoicePaid("evt_1NG8Du2eZvKYlo2CUI8hYQzP", time.Now(), stripetest.Invoice{
		Subscription: "sub_benchmark", BillingReason: "subscription_cycle", Price: "price_std_monthly",
		AmountPaid: 999, Currency: "eur", Paid: true, Version: stripetest.Versions[len(stripetest.Versions)-1],
	})
	b.SetBytes(int64(len(p)))
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseEnvelope(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			var e Envelope
			if err := json.Unmarshal(p, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// data.object as ReadEvent keeps it: the last one, across repeated "data"
// keys too, and what the scan leaves to encoding/json.
func TestScanEventObject(t *testing.T) {
	t.Parallel()
	const base = `"id":"evt_1","type":"invoice.paid","created":1700000000`
	for _, tc := range []struct {
		name, payload string
		scanned       bool
		object        string
	}{
		{"object", `{` + base + `,"data":{"object":{"id":"in_1","n":[1,2]},"previous_attributes":{}}}`, true, `{"id":"in_1","n":[1,2]}`},
		{"space around", `{` + base + `,"data":{ "object" :  {"id":"in_1"}  }}`, true, `{"id":"in_1"}`},
		{"no object", `{` + base + `,"data":{"x":1}}`, true, ``},
		{"no data", `{` + base + `}`, true, ``},
		{"last object counts", `{` + base + `,"data":{"object":{"a":1},"object":{"b":2}}}`, true, `{"b":2}`},
		{"a second data without object keeps the first's", `{` + base + `,"data":{"object":{"a":1}},"data":{"x":1}}`, true, `{"a":1}`},
		{"object not an object", `{` + base + `,"data":{"object":"sub_1"}}`, true, `"sub_1"`},
		{"data null", `{` + base + `,"data":null}`, false, ``},
		{"data a string", `{` + base + `,"data":"x"}`, false, ``},
		// Left to encoding/json, which ignores case.
		{"Object", `{` + base + `,"data":{"Object":{"a":1}}}`, false, `{"a":1}`},
		{"Data", `{` + base + `,"Data":{"object":{"a":1}}}`, false, `{"a":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readsEventAsJSON(t, []byte(tc.payload)); got != tc.scanned {
				t.Fatalf("scanned = %v, want %v", got, tc.scanned)
			}
			ev, err := ReadEvent([]byte(tc.payload))
			if err != nil && tc.scanned {
				t.Fatal(err)
			}
			if string(ev.Object) != tc.object && err == nil {
				t.Fatalf("object %q, want %q", ev.Object, tc.object)
			}
		})
	}
}
