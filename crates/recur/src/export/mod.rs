//! Models leave recur in formats other programs run: [`onnx`].

pub mod onnx;
