package pmu

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotSupported is matched (errors.Is) by every error that says an event
// cannot be counted by a source on this machine.
var ErrNotSupported = errors.New("not supported")

// Reasons shared by sources. They are complete sentences fragments meant
// to follow "not supported: ".
const (
	ReasonNoHardwarePMU = "no hardware PMU: this machine is a VM without a virtual PMU"
	ReasonVirtualOnly   = "counted only inside the vpmu hypervisor (use --vm)"
)

// NotSupportedError says that an event cannot be counted, and why.
type NotSupportedError struct {
	// Event is the event as written ("instructions:u").
	Event string
	// Reason is a human explanation, for example ReasonNoHardwarePMU or
	// "perf_event_paranoid is 3: ...".
	Reason string
	// Err is the underlying error (an errno from perf_event_open), or nil.
	Err error
}

func (e *NotSupportedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "event %q not supported", e.Event)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

func (e *NotSupportedError) Unwrap() error { return e.Err }

// SpecError is a syntax or resolution error in an event spec. It points at
// the offending token.
type SpecError struct {
	// Spec is the whole spec as given.
	Spec string
	// Offset is the byte offset of Token in Spec.
	Offset int
	// Token is the offending part of the spec.
	Token string
	// Msg says what is wrong with Token.
	Msg string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("event spec %q: %s at offset %d (%q)", e.Spec, e.Msg, e.Offset, e.Token)
}

// Caret renders the spec with a caret line under the offending token, for
// terminal output:
//
//	cycles,bogus
//	       ^^^^^
func (e *SpecError) Caret() string {
	n := len(e.Token)
	if n == 0 {
		n = 1
	}
	return e.Spec + "\n" + strings.Repeat(" ", e.Offset) + strings.Repeat("^", n)
}
