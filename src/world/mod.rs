//! The live world: TODO
