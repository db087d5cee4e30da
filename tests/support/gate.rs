//! The world's effects as the loop carries them out: through the gate
//! (`effects::admit`) first, then (for a blocking effect) `run_blocking`.

use nodeboot::core::action::Effect;
use nodeboot::core::input::{EffectError, EffectResult};
use nodeboot::world::confine::Confinement;
use nodeboot::world::effects::{self, Pass, Plan};

/// The gate's answer for `effect` outside PID 1.
pub fn admit(effect: &Effect, confine: &Confinement) -> Result<Pass, EffectError> {
    effects::admit(effect.clone(), confine, false)
}

/// How `effect` would run, or the message of why not (a dry run is an error here:
/// these tests ask for effects that run).
pub fn plan(effect: &Effect, confine: &Confinement) -> Result<Plan, String> {
    match admit(effect, confine) {
        Ok(Pass::Run(admitted)) => Ok(admitted.into_parts().1),
        Ok(Pass::DryRun(_)) => Err(format!("dry run of {}", effect.name())),
        Err(e) => Err(e.message),
    }
}

/// Admit and run a blocking effect, as the loop and a worker thread do.
pub fn run_blocking_effect(effect: &Effect, confine: &Confinement) -> EffectResult {
    match admit(effect, confine)? {
        Pass::Run(admitted) => effects::run_blocking(&admitted, confine),
        Pass::DryRun(_) => Err(EffectError::other(format!("dry run of {}", effect.name()))),
    }
}

/// [`run_blocking_effect`] with the error's message.
pub fn run_blocking(
    effect: &Effect,
    confine: &Confinement,
) -> Result<nodeboot::core::input::EffectOutput, String> {
    run_blocking_effect(effect, confine).map_err(|e| e.message)
}
