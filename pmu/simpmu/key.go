package simpmu

import (
	"fmt"

	"github.com/vpmu/vpmu/pmu"
)

// Key identifies what a counter counts, independent of modifiers: the
// event's perf_event_attr type and config words. cycles and cycles:u have
// the same Key; a delivered occurrence of a Key reaches every counter
// programmed with it whose modifiers let it count in the CPU's mode. A raw
// event and a PMU event with the same type and config (r3c and
// cpu/event=0x3c/ on x86) are the same Key.
type Key struct {
	Type                     uint32
	Config, Config1, Config2 uint64
	// Virtual marks vpmu hypervisor events (pmu.KindVirtual), whose Type
	// 0 would otherwise collide with PERF_TYPE_HARDWARE.
	Virtual bool
}

// KeyOf returns the Key of an event.
func KeyOf(e pmu.Event) Key {
	return Key{Type: e.Type, Config: e.Config, Config1: e.Config1, Config2: e.Config2, Virtual: e.Kind == pmu.KindVirtual}
}

// String formats the key as type:config[,config1,config2].
func (k Key) String() string {
	if k.Virtual {
		return "virtual:" + pmu.VirtualEvent(k.Config).String()
	}
	if k.Config1 == 0 && k.Config2 == 0 {
		return fmt.Sprintf("%d:%#x", k.Type, k.Config)
	}
	return fmt.Sprintf("%d:%#x,%#x,%#x", k.Type, k.Config, k.Config1, k.Config2)
}

// MustKey returns the Key of the single event spec (parsed with
// pmu.DefaultCatalog) and panics if it is not exactly one event. It is for
// tests: MustKey("instructions").
func MustKey(spec string) Key {
	s := pmu.MustParseSpec(spec)
	evs := s.Events()
	if len(evs) != 1 {
		panic(fmt.Sprintf("simpmu.MustKey(%q): %d events, want 1", spec, len(evs)))
	}
	return KeyOf(evs[0])
}
