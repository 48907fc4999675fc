// Command go-oracle computes conformance expectations for the translate and ingest ops with the
// real Go protojson library, mirroring cmd/telemetry-gateway/internal/events (Publisher.Publish,
// extractPubSubAttributes), server/migrate_events.go and lib/telemetrygateway/v1
// ValidateEventFeatureAction.
//
// Usage: go-oracle -desc telemetrygateway.desc < requests.jsonl > expectations.jsonl
//
// Each input line is {"op": "translate"|"ingest"|"canon", "input": {...}}; each output line is
// the "expect" object for that case ("canon" returns {"event": <protojson round-trip>} and is used
// to check hand-written event expectations of the redact/record ops).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// pubsub.MaxPublishRequestBytes
const defaultMaxMessageBytes = 10_000_000

// Pub/Sub's per-message limits, checked before publishing. A deliberate difference from the Go
// gateway (which publishes, and Pub/Sub fails the whole batch): it mirrors
// core/src/translate.rs check_pubsub_limits so that regenerating keeps those corpus cases.
const (
	pubsubMaxAttributes   = 100
	pubsubMaxKeyBytes     = 256
	pubsubMaxValueBytes   = 1024
	pubsubMaxRequestBytes = 10_000_000
	pubsubRequestOverhead = 1024
)

func varintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

func fieldLen(n int) int { return 1 + varintLen(n) + n }

// pubsubLimitError returns why a message breaks Pub/Sub's limits, or "".
func pubsubLimitError(data []byte, attrs map[string]string) string {
	if len(attrs) > pubsubMaxAttributes {
		return fmt.Sprintf("%d attributes, over the limit of 100", len(attrs))
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	size := fieldLen(len(data))
	for _, k := range keys {
		v := attrs[k]
		if len(k) > pubsubMaxKeyBytes {
			return fmt.Sprintf("attribute key of %d bytes, over the limit of 256", len(k))
		}
		if len(v) > pubsubMaxValueBytes {
			return fmt.Sprintf("attribute %q has a value of %d bytes, over the limit of 1024", k, len(v))
		}
		size += fieldLen(fieldLen(len(k)) + fieldLen(len(v)))
	}
	size = fieldLen(size) + pubsubRequestOverhead
	if size > pubsubMaxRequestBytes {
		return fmt.Sprintf("message of %d bytes with its attributes, over the publish request limit of 10000000", size)
	}
	return ""
}

var (
	eventDesc    protoreflect.MessageDescriptor
	metadataDesc protoreflect.MessageDescriptor
)

func loadDescriptors(path string) {
	raw, err := ioutil.ReadFile(path)
	must(err)
	var set descriptorpb.FileDescriptorSet
	must(proto.Unmarshal(raw, &set))
	files, err := protodesc.NewFiles(&set)
	must(err)
	d, err := files.FindDescriptorByName("telemetrygateway.v1.Event")
	must(err)
	eventDesc = d.(protoreflect.MessageDescriptor)
	d, err = files.FindDescriptorByName("telemetrygateway.v1.RecordEventsRequestMetadata")
	must(err)
	metadataDesc = d.(protoreflect.MessageDescriptor)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-oracle:", err)
		os.Exit(2)
	}
}

// --- lib/telemetrygateway/v1/v1.go ---------------------------------------------------------

var featureActionRegex = regexp.MustCompile(`^[a-z][a-zA-Z-\.]+$`)

const maxLength = 64

func validateEventFeatureAction(feature, action string) error {
	if feature == "" || action == "" {
		return errors.New("'feature', 'action' must both be provided")
	}
	if len(feature) > maxLength {
		return errors.New("'feature' must be less than 64 characters")
	}
	if len(action) > maxLength {
		return errors.New("'action' must be less than 64 characters")
	}
	if !featureActionRegex.MatchString(feature) {
		return errors.New("'feature' must start with a lowercase letter and contain only letters, dashes, and dots")
	}
	if !featureActionRegex.MatchString(action) {
		return errors.New("'action' must start with a lowercase letter and contain only letters, dashes, and dots")
	}
	return nil
}

// --- helpers over dynamic messages ---------------------------------------------------------

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic("no field " + name)
	}
	return fd
}

func getString(m protoreflect.Message, name string) string {
	return m.Get(field(m, name)).String()
}

func getMsg(m protoreflect.Message, name string) protoreflect.Message {
	return m.Get(field(m, name)).Message()
}

// publisherSource mirrors the publisher "source" label (§2.4).
func publisherSource(md protoreflect.Message) (source string, isInstance bool) {
	ident := getMsg(md, "identifier")
	oneof := ident.Descriptor().Oneofs().ByName("identifier")
	fd := ident.WhichOneof(oneof)
	if fd == nil {
		return "unknown", false
	}
	switch fd.Name() {
	case "licensed_instance":
		return "licensed_instance", true
	case "unlicensed_instance":
		return "unlicensed_instance", true
	case "managed_service":
		return getString(ident.Get(fd).Message(), "service_id"), false
	}
	return "unknown", false
}

// extractPubSubAttributes mirrors events/attributes.go.
func extractPubSubAttributes(source string, event protoreflect.Message) map[string]string {
	params := getMsg(event, "parameters")
	attrs := map[string]string{
		"publisher.source":         source,
		"event.feature":            getString(event, "feature"),
		"event.action":             getString(event, "action"),
		"event.hasPrivateMetadata": fmt.Sprintf("%v", params.Has(field(params, "private_metadata"))),
	}
	const prefix = "recordsPrivateMetadata"
	params.Get(field(params, "metadata")).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		key := k.String()
		if strings.HasPrefix(key, prefix) && len(key) > len(prefix)+1 && v.Float() > 0 {
			attrs["event."+key] = "true"
		}
		return true
	})
	return attrs
}

// migrateEvents mirrors server/migrate_events.go (RecordEvents only).
func migrateEvent(event protoreflect.Message) {
	pfd := field(event, "parameters")
	if !event.Has(pfd) {
		return
	}
	params := event.Mutable(pfd).Message()
	lfd := field(params, "legacy_metadata")
	legacy := params.Get(lfd).Map()
	if legacy.Len() == 0 {
		return
	}
	md := params.Mutable(field(params, "metadata")).Map()
	legacy.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		md.Set(k, protoreflect.ValueOfFloat64(float64(v.Int())))
		return true
	})
	params.Clear(lfd)
}

// body mirrors events.go: json.Marshal(map[string]json.RawMessage{...}).
func body(metadataJSON []byte, event protoreflect.Message) ([]byte, error) {
	eventJSON, err := protojson.Marshal(event.Interface())
	if err != nil {
		return nil, fmt.Errorf("marshalling event: %w", err)
	}
	return json.Marshal(map[string]json.RawMessage{
		"metadata": json.RawMessage(metadataJSON),
		"event":    json.RawMessage(eventJSON),
	})
}

// --- ops ---------------------------------------------------------------------------------

type request struct {
	Op    string `json:"op"`
	Input struct {
		Metadata        json.RawMessage   `json:"metadata"`
		Event           json.RawMessage   `json:"event"`
		Events          []json.RawMessage `json:"events"`
		RPC             string            `json:"rpc"`
		MaxMessageBytes *int              `json:"maxMessageBytes"`
	} `json:"input"`
}

func parseEvent(raw json.RawMessage) (*dynamicpb.Message, error) {
	m := dynamicpb.NewMessage(eventDesc)
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("invalid event: %v", err)
	}
	return m, nil
}

func parseMetadata(raw json.RawMessage) (*dynamicpb.Message, []byte, error) {
	m := dynamicpb.NewMessage(metadataDesc)
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, nil, fmt.Errorf("invalid metadata: %v", err)
	}
	out, err := protojson.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid metadata: %v", err)
	}
	return m, out, nil
}

func errExpect(err error) map[string]interface{} {
	msg := err.Error()
	// Only the stable prefix is part of the contract for parse errors.
	for _, p := range []string{"invalid event", "invalid metadata", "marshalling event"} {
		if strings.HasPrefix(msg, p) {
			return map[string]interface{}{"error": p, "_detail": msg}
		}
	}
	return map[string]interface{}{"error": msg}
}

func translate(r *request) map[string]interface{} {
	md, mdJSON, err := parseMetadata(r.Input.Metadata)
	if err != nil {
		return errExpect(err)
	}
	ev, err := parseEvent(r.Input.Event)
	if err != nil {
		return errExpect(err)
	}
	limit := defaultMaxMessageBytes
	if r.Input.MaxMessageBytes != nil {
		limit = *r.Input.MaxMessageBytes
	}
	source, _ := publisherSource(md)
	b, err := body(mdJSON, ev)
	if err != nil {
		return errExpect(err)
	}
	if len(b) >= limit {
		return map[string]interface{}{"dropped": "oversized", "_size": len(b)}
	}
	attrs := extractPubSubAttributes(source, ev)
	if msg := pubsubLimitError(b, attrs); msg != "" {
		return map[string]interface{}{"error": "event exceeds pub/sub limits: " + msg}
	}
	return map[string]interface{}{"payload": string(b), "attributes": attrs}
}

func ingest(r *request) map[string]interface{} {
	md, mdJSON, err := parseMetadata(r.Input.Metadata)
	if err != nil {
		return errExpect(err)
	}
	limit := defaultMaxMessageBytes
	if r.Input.MaxMessageBytes != nil {
		limit = *r.Input.MaxMessageBytes
	}
	source, isInstance := publisherSource(md)
	results := []interface{}{}
	succeeded := []string{}
	for _, raw := range r.Input.Events {
		ev, err := parseEvent(raw)
		if err != nil {
			return errExpect(err)
		}
		if r.Input.RPC == "" || r.Input.RPC == "RecordEvents" {
			migrateEvent(ev)
		}
		id := getString(ev, "id")
		reject := func(msg string) {
			results = append(results, map[string]interface{}{
				"id": id, "outcome": "reject", "retryable": false, "error": msg,
			})
			if isInstance {
				succeeded = append(succeeded, id)
			}
		}
		if id == "" {
			reject("event ID is required")
			continue
		}
		if err := validateEventFeatureAction(getString(ev, "feature"), getString(ev, "action")); err != nil {
			reject("invalid event 'feature' or 'action': " + err.Error())
			continue
		}
		if !ev.Has(field(ev, "timestamp")) {
			reject("event timestamp is required")
			continue
		}
		b, err := body(mdJSON, ev)
		if err != nil {
			reject("marshalling event")
			continue
		}
		if len(b) >= limit {
			results = append(results, map[string]interface{}{
				"id": id, "outcome": "drop", "error": "discarding oversized event",
			})
			succeeded = append(succeeded, id)
			continue
		}
		attrs := extractPubSubAttributes(source, ev)
		if msg := pubsubLimitError(b, attrs); msg != "" {
			reject("event exceeds pub/sub limits: " + msg)
			continue
		}
		results = append(results, map[string]interface{}{
			"id": id, "outcome": "publish", "payload": string(b),
			"attributes": attrs,
		})
		succeeded = append(succeeded, id)
	}
	return map[string]interface{}{"results": results, "succeededEvents": succeeded}
}

func canon(r *request) map[string]interface{} {
	ev, err := parseEvent(r.Input.Event)
	if err != nil {
		return errExpect(err)
	}
	b, err := protojson.Marshal(ev)
	if err != nil {
		return errExpect(err)
	}
	return map[string]interface{}{"event": json.RawMessage(b)}
}

func main() {
	descPath := flag.String("desc", "", "FileDescriptorSet (with imports) for telemetrygateway.proto")
	flag.Parse()
	if *descPath == "" {
		must(errors.New("-desc is required"))
	}
	loadDescriptors(*descPath)

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		var r request
		must(json.Unmarshal(in.Bytes(), &r))
		var res map[string]interface{}
		switch r.Op {
		case "translate":
			res = translate(&r)
		case "ingest":
			res = ingest(&r)
		case "canon":
			res = canon(&r)
		default:
			must(fmt.Errorf("unknown op %q", r.Op))
		}
		line, err := json.Marshal(res)
		must(err)
		out.Write(line)
		out.WriteByte('\n')
	}
	must(in.Err())
}
