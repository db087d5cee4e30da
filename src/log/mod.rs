//! The log stream: TODO
