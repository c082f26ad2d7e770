//! Safetensors under PyTorch's names: round trip, and clear errors on mismatch.

mod common;
use recur::io::{write_safetensors, TensorFile};
use recur::{CellType, Recurrent, RecurrentConfig, Rng};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("recur-io-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_then_load_round_trips_with_pytorch_names() {
    let dir = temp_dir("roundtrip");
    let config = RecurrentConfig::new(CellType::Lstm, 3, 5)
        .layers(2)
        .bidirectional(true);
    let layer = Recurrent::<f32>::new(config.clone(), &mut Rng::new(1)).unwrap();
    let path = dir.join("lstm.safetensors");
    layer.save_safetensors(&path).unwrap();
    let file = TensorFile::read(&path).unwrap();
    let names: Vec<&str> = file.names().collect();
    for want in [
        "weight_ih_l0",
        "weight_hh_l0_reverse",
        "bias_ih_l1",
        "bias_hh_l1_reverse",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert_eq!(file.get("weight_ih_l1").unwrap().0, &[20, 10]);
    let back = Recurrent::<f32>::load_safetensors(config, &path).unwrap();
    assert_eq!(back.params(), layer.params());
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
}

#[test]
fn mismatches_name_the_tensor_and_both_shapes() {
    let dir = temp_dir("mismatch");
    let path = dir.join("gru.safetensors");
    let config = RecurrentConfig::new(CellType::Gru, 3, 5);
    Recurrent::<f32>::new(config.clone(), &mut Rng::new(1))
        .unwrap()
        .save_safetensors(&path)
        .unwrap();

    let e = Recurrent::<f32>::load_safetensors(RecurrentConfig::new(CellType::Gru, 3, 6), &path)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("gru.safetensors")
            && msg.contains("weight_ih_l0")
            && msg.contains("[15, 3]")
            && msg.contains("[18, 3]"),
        "{msg}"
    );

    let e = Recurrent::<f32>::load_safetensors(config.clone().layers(2), &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("weight_ih_l1") && e.contains("missing"), "{e}");

    let e = Recurrent::<f32>::load_safetensors(config.clone().bias(false), &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("unexpected tensor 'bias_hh_l0'"), "{e}");

    let e = Recurrent::<f32>::load_safetensors(RecurrentConfig::new(CellType::Lstm, 3, 5), &path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("[20, 3]"), "{e}");

    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = Recurrent::<f32>::load_safetensors(config.clone(), &cut)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cut.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );

    let e = Recurrent::<f32>::load_safetensors(config, dir.join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.safetensors"), "{e}");
}

#[test]
fn extra_prefix_and_write_helper() {
    let dir = temp_dir("prefix");
    let path = dir.join("m.safetensors");
    let layer =
        Recurrent::<f32>::new(RecurrentConfig::new(CellType::Rnn, 2, 3), &mut Rng::new(2)).unwrap();
    let head = [1.0f32, 2.0, 3.0];
    let mut tensors = layer.named_tensors("rnn.");
    tensors.push(("head.bias".into(), vec![3], &head));
    write_safetensors(&path, &tensors).unwrap();
    let mut file = TensorFile::read(&path).unwrap();
    let mut back = Recurrent::<f32>::zeros(layer.config().clone()).unwrap();
    back.load_tensors(&mut file, "rnn.").unwrap();
    assert_eq!(file.take("head.bias", &[3]).unwrap(), head);
    file.finish().unwrap();
    assert_eq!(back.params(), layer.params());
}
