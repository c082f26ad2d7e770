//! Streaming transcription: features computed chunk by chunk equal the whole recording's, and
//! a unidirectional model stepped through them transcribes as the whole pass does.

use recur::audio::{FeatureConfig, FeatureKind, Features, Wav};
use recur::speech::model::{AcousticConfig, AcousticModel};
use recur::speech::stream::{StreamFeatures, Streamer};
use recur::speech::train::transcribe_greedy;
use recur::speech::{Alphabet, Unit};
use recur::{CellType, Rng, Threads};
use std::path::Path;

fn recording() -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio/7_george_1.wav");
    let one = Wav::read(&path).unwrap().samples;
    // Two copies with a pause between: a longer recording.
    let mut s = one.clone();
    s.extend(std::iter::repeat_n(0.0, 1234));
    s.extend(&one);
    s
}

fn streamable(kind: FeatureKind, deltas: usize) -> FeatureConfig {
    FeatureConfig {
        kind,
        deltas,
        cmvn: false,
        top_db: None,
        ..Default::default()
    }
}

#[test]
fn streamed_features_equal_the_whole_recordings_bit_for_bit() {
    let samples = recording();
    for (kind, deltas) in [
        (FeatureKind::Mfcc, 2),
        (FeatureKind::LogMel, 0),
        (FeatureKind::Mfcc, 1),
    ] {
        let features = Features::new(streamable(kind, deltas)).unwrap();
        let whole = features.compute(&samples).values;
        for chunk in [1usize, 80, 333, 800, 5000] {
            let mut s = StreamFeatures::new(&features).unwrap();
            let mut got = Vec::new();
            for piece in samples.chunks(chunk) {
                got.extend(s.push(piece));
            }
            got.extend(s.finish());
            if let Some(i) = (0..got.len().min(whole.len())).find(|&i| got[i] != whole[i]) {
                let d = features.config().dims();
                panic!("{kind:?}, deltas {deltas}, chunks of {chunk}: frame {} feature {} is {} streamed, {} whole ({} and {} values)", i / d, i % d, got[i], whole[i], got.len(), whole.len());
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got),
                bits(&whole),
                "{kind:?}, deltas {deltas}, chunks of {chunk}"
            );
        }
    }
    let normalised = Features::new(FeatureConfig::default()).unwrap();
    let e = StreamFeatures::new(&normalised).err().unwrap().to_string();
    assert!(e.contains("cmvn"), "{e}");
}

#[test]
fn a_streamed_transcript_is_the_whole_pass_transcript() {
    let samples = recording();
    let features = Features::new(streamable(FeatureKind::Mfcc, 2)).unwrap();
    let frames = features.compute(&samples).values;
    let alphabet = Alphabet::from_transcripts(Unit::Word, ["one two three"]).unwrap();
    let mut rng = Rng::new(3);
    let t = Threads::single();
    let mut transcripts = 0;
    for (seed, frame_stack) in [(1u64, 1usize), (2, 3), (3, 2), (4, 1)] {
        let config = AcousticConfig {
            cell: CellType::Gru,
            input_size: features.config().dims(),
            frame_stack,
            hidden_size: 16,
            num_layers: 2,
            bidirectional: false,
            dropout: 0.0,
            alphabet: alphabet.clone(),
            mean: vec![0.0; 39],
            std: vec![20.0; 39],
        };
        let model = AcousticModel::new(config, &mut Rng::new(seed ^ rng.next_u64())).unwrap();
        let want = transcribe_greedy(&model, &t, &[&frames[..]])
            .unwrap()
            .remove(0);
        let mut s = Streamer::new(&model, &features).unwrap();
        let mut got = Vec::new();
        for piece in samples.chunks(800) {
            got.extend(s.push(&t, piece).unwrap());
        }
        got.extend(s.finish(&t).unwrap());
        assert_eq!(got, want, "frame_stack {frame_stack}");
        transcripts += usize::from(!want.is_empty());
    }
    assert!(
        transcripts > 0,
        "every random model emitted nothing: the check compared nothing"
    );
}
