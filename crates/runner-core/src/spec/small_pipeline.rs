//! The small valid pipeline the unit tests of this crate start from (an EfficientNet-Lite0
//! cut at `block3`, frozen, with a one-unit sigmoid head), so that each test spells out
//! only what it changes.

/// The pipeline's text, with `weights` as its weights file (`"none"` for a random one).
pub fn small_pipeline(weights: &str) -> String {
    format!(
        r#"
        [pipeline]
        name = "small"
        [data]
        train = "data/train"
        validation = "data/validation"
        image_size = [32, 32]
        [backbone]
        arch = "efficientnet_lite0"
        weights = "{weights}"
        cut = "block3"
        freeze = "all"
        [[head]]
        type = "global_avg_pool"
        [[head]]
        type = "dropout"
        rate = 0.2
        [[head]]
        type = "dense"
        units = 1
        activation = "sigmoid"
        [train]
        optimizer = {{ type = "adam", lr = 0.001 }}
        loss = "binary_crossentropy"
        epochs = 2
        "#
    )
}
