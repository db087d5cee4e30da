//! What a device's `MODALIAS` load came to, as the log tells it. The world resolves
//! the alias against the running kernel's module index (`wire::modalias`) and runs
//! `modprobe -b NAME` only for modules neither built in, nor loaded, nor already asked
//! for; its answer ([`EffectOutput::Modules`]) names them, and rides on the journal's
//! `EffectDone`, so a replay tells the same story without the index.

use super::event::Event;
use super::input::{EffectOutput, EffectResult};

/// The record for the alias load `modalias` that ended with `result` after `ms`.
pub fn outcome(modalias: String, result: &EffectResult, ms: Option<u64>) -> Event {
    match result {
        Ok(EffectOutput::Modules { load, present }) if load.is_empty() => {
            if present.is_empty() {
                Event::ModuleUnmatched { modalias }
            } else {
                Event::ModulePresent {
                    modalias,
                    module: present.join(","),
                }
            }
        }
        Ok(EffectOutput::Modules { load, .. }) => Event::ModuleLoad {
            modalias,
            ok: true,
            module: Some(load.join(",")),
            ms,
        },
        // A world without the index (or a recording made before it) ran `modprobe -b
        // ALIAS`; a failure's message names the modules when there were any.
        Ok(_) | Err(_) => Event::ModuleLoad {
            modalias,
            ok: result.is_ok(),
            module: None,
            ms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn json(e: &Event) -> serde_json::Value {
        serde_json::to_value(e).unwrap()
    }

    #[test]
    fn loaded_modules_are_named() {
        let out = Ok(EffectOutput::Modules {
            load: names(&["virtio_scsi", "sd_mod"]),
            present: names(&["virtio_pci"]),
        });
        let e = json(&outcome("virtio:d00000008v00001AF4".into(), &out, Some(40)));
        assert_eq!(e["event"], "module.load");
        assert_eq!(e["module"], "virtio_scsi,sd_mod");
        assert_eq!(e["ok"], true);
        assert_eq!(e["ms"], 40);
    }

    #[test]
    fn nothing_to_load_is_said_so() {
        let none = Ok(EffectOutput::Modules {
            load: Vec::new(),
            present: Vec::new(),
        });
        let e = json(&outcome("acpi:PNP0501:".into(), &none, Some(0)));
        assert_eq!(e["event"], "module.unmatched");
        assert_eq!(e["modalias"], "acpi:PNP0501:");
        let present = Ok(EffectOutput::Modules {
            load: Vec::new(),
            present: names(&["virtio_pci"]),
        });
        let e = json(&outcome("pci:v00001AF4d00001041".into(), &present, Some(0)));
        assert_eq!(e["event"], "module.present");
        assert_eq!(e["module"], "virtio_pci");
    }

    /// The world's decision rides on the journaled `EffectDone`: it reads back the same,
    /// and a recording made before (`"ok": "done"`) still reads.
    #[test]
    fn the_answer_survives_the_trace_format() {
        use crate::core::action::EffectId;
        use crate::core::input::Input;
        let input = Input::EffectDone {
            id: EffectId(7),
            result: Ok(EffectOutput::Modules {
                load: names(&["virtio_scsi"]),
                present: Vec::new(),
            }),
        };
        let line = serde_json::to_string(&input).unwrap();
        assert!(
            line.contains(r#""ok":"modules","load":["virtio_scsi"]"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<Input>(&line).unwrap(), input);
        let none: Input = serde_json::from_str(
            r#"{"kind":"effect_done","id":3,"result":{"Ok":{"ok":"modules"}}}"#,
        )
        .unwrap();
        let Input::EffectDone { result, .. } = none else {
            panic!("{none:?}")
        };
        let e = json(&outcome("acpi:PNP0501:".into(), &result, None));
        assert_eq!(e["event"], "module.unmatched");
    }

    #[test]
    fn without_an_index_as_before() {
        let e = json(&outcome("pci:x".into(), &Ok(EffectOutput::Done), Some(5)));
        assert_eq!(e["event"], "module.load");
        assert!(e.get("module").is_none());
        let failed = Err("modprobe -b nvme: exit status 1".into());
        let e = json(&outcome("pci:x".into(), &failed, Some(5)));
        assert_eq!(
            (e["event"].as_str(), e["ok"].as_bool()),
            (Some("module.load"), Some(false))
        );
    }
}
