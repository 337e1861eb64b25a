package pmu

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestOpenPartial(t *testing.T) {
	ev := func(name string) Event { return Event{Name: name, Kind: KindSoftware} }
	g := Group{Explicit: true, Events: []Event{ev("a"), ev("b"), ev("c"), ev("d")}}
	unsupported := map[string]bool{"b": true, "d": true}
	var tries []string
	open := func(sub Group) (string, error) {
		tries = append(tries, sub.String())
		for _, e := range sub.Events {
			if unsupported[e.Name] {
				return "", &NotSupportedError{Event: e.Name, Reason: "test"}
			}
		}
		return sub.String(), nil
	}
	c, counted, errs, ok, err := OpenPartial(g, open)
	if err != nil || !ok || c != "{a,c}" {
		t.Fatalf("OpenPartial = %q, ok %v, err %v", c, ok, err)
	}
	if !reflect.DeepEqual(counted, []int{0, 2}) {
		t.Errorf("counted %v, want [0 2]", counted)
	}
	for i, want := range []bool{false, true, false, true} {
		if (errs[i] != nil) != want || (want && !errors.Is(errs[i], ErrNotSupported)) {
			t.Errorf("errs[%d] = %v", i, errs[i])
		}
	}
	if strings.Join(tries, " ") != "{a,b,c,d} {a,c,d} {a,c}" {
		t.Errorf("tries %v", tries)
	}

	// Nothing supported.
	unsupported = map[string]bool{"a": true, "b": true, "c": true, "d": true}
	_, counted, errs, ok, err = OpenPartial(g, open)
	if err != nil || ok || counted != nil {
		t.Errorf("all unsupported: ok %v counted %v err %v", ok, counted, err)
	}
	for i, e := range errs {
		if e == nil {
			t.Errorf("errs[%d] nil", i)
		}
	}

	// A refusal that names no event of the group leaves them all out.
	_, _, errs, ok, err = OpenPartial(g, func(Group) (int, error) {
		return 0, &NotSupportedError{Event: "other", Reason: "group too big"}
	})
	if err != nil || ok || errs[0] == nil || errs[3] == nil {
		t.Errorf("unnamed refusal: ok %v errs %v err %v", ok, errs, err)
	}

	// Other errors are returned.
	_, _, _, ok, err = OpenPartial(g, func(Group) (int, error) { return 0, errors.New("EMFILE") })
	if err == nil || ok || !strings.Contains(err.Error(), "EMFILE") {
		t.Errorf("fatal error: ok %v err %v", ok, err)
	}
}

func TestOpenSubset(t *testing.T) {
	ev := func(name string) Event { return Event{Name: name, Kind: KindSoftware} }
	events := []Event{ev("a"), ev("b"), ev("c")}
	unsupported := map[string]bool{"a": true}
	open := func(sub Group) (string, error) {
		for _, e := range sub.Events {
			if unsupported[e.Name] {
				return "", &NotSupportedError{Event: e.Name, Reason: "test"}
			}
		}
		return sub.String(), nil
	}
	sub, c, index, errs, err := OpenSubset(true, events, open)
	if err != nil || c != "{b,c}" || sub.String() != "{b,c}" || !sub.Explicit {
		t.Fatalf("OpenSubset = %v, %q, err %v", sub, c, err)
	}
	if !reflect.DeepEqual(index, []int{-1, 0, 1}) {
		t.Errorf("index %v, want [-1 0 1]", index)
	}
	if errs[0] == nil || errs[1] != nil || errs[2] != nil {
		t.Errorf("errs %v", errs)
	}

	unsupported = map[string]bool{"a": true, "b": true, "c": true}
	sub, _, index, errs, err = OpenSubset(false, events, open)
	if err != nil || len(sub.Events) != 0 || !reflect.DeepEqual(index, []int{-1, -1, -1}) || errs[2] == nil {
		t.Errorf("none supported: %v index %v errs %v err %v", sub, index, errs, err)
	}

	if _, _, _, _, err = OpenSubset(false, events, func(Group) (int, error) { return 0, errors.New("EMFILE") }); err == nil {
		t.Error("a fatal open error was not returned")
	}
}
