//! Writes a state dict as `torch.save` does (the zip layout of PyTorch 1.6 and later: a
//! protocol-2 pickle of an `OrderedDict` of tensors, each tensor's storage a separate entry),
//! so tests can load torchvision-keyed weights without shipping megabytes of them.

use std::io::Write;
use std::path::Path;

pub enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

pub struct Tensor {
    pub key: String,
    pub shape: Vec<usize>,
    pub values: Values,
}

pub fn write_state_dict(path: &Path, tensors: &[Tensor]) {
    for tensor in tensors {
        let numel = match &tensor.values {
            Values::F32(values) => values.len(),
            Values::I64(values) => values.len(),
        };
        assert_eq!(
            numel,
            tensor.shape.iter().product::<usize>(),
            "{}",
            tensor.key
        );
    }
    let strides: Vec<Vec<usize>> = tensors
        .iter()
        .map(|tensor| {
            (0..tensor.shape.len())
                .map(|dim| tensor.shape[dim + 1..].iter().product())
                .collect()
        })
        .collect();
    write_views(path, tensors, &strides);
}

/// A state dict whose one tensor `key` is a view of `shape` with every stride 0 over a
/// storage of a single value: a few hundred bytes that materialize `shape`'s product of
/// values when read as a contiguous tensor.
pub fn write_stride_zero_view(path: &Path, key: &str, shape: &[usize]) {
    let tensor = Tensor {
        key: key.to_string(),
        shape: shape.to_vec(),
        values: Values::F32(vec![1.0]),
    };
    write_views(path, &[tensor], &[vec![0; shape.len()]]);
}

/// Each tensor a view of its storage (its values) with the given strides.
fn write_views(path: &Path, tensors: &[Tensor], strides: &[Vec<usize>]) {
    let mut pickle = vec![0x80, 2]; // PROTO 2
    global(&mut pickle, "collections", "OrderedDict");
    pickle.extend_from_slice(b")R("); // OrderedDict(), then MARK for its items
    for (index, (tensor, strides)) in tensors.iter().zip(strides).enumerate() {
        let (storage, numel) = match &tensor.values {
            Values::F32(values) => ("FloatStorage", values.len()),
            Values::I64(values) => ("LongStorage", values.len()),
        };
        unicode(&mut pickle, &tensor.key);
        // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), where
        // storage is the persistent id ("storage", class, key, location, numel).
        global(&mut pickle, "torch._utils", "_rebuild_tensor_v2");
        pickle.extend_from_slice(b"((");
        unicode(&mut pickle, "storage");
        global(&mut pickle, "torch", storage);
        unicode(&mut pickle, &index.to_string());
        unicode(&mut pickle, "cpu");
        int(&mut pickle, numel);
        pickle.extend_from_slice(b"tQ"); // TUPLE, BINPERSID
        int(&mut pickle, 0);
        ints(&mut pickle, &tensor.shape);
        ints(&mut pickle, strides);
        pickle.push(0x89); // NEWFALSE
        global(&mut pickle, "collections", "OrderedDict");
        pickle.extend_from_slice(b")RtR"); // OrderedDict(), TUPLE of the arguments, REDUCE
    }
    pickle.extend_from_slice(b"u."); // SETITEMS, STOP

    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut entry = |name: &str, bytes: &[u8]| {
        zip.start_file(format!("archive/{name}"), options).unwrap();
        zip.write_all(bytes).unwrap();
    };
    entry("data.pkl", &pickle);
    entry("byteorder", b"little");
    for (index, tensor) in tensors.iter().enumerate() {
        let bytes: Vec<u8> = match &tensor.values {
            Values::F32(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Values::I64(values) => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        entry(&format!("data/{index}"), &bytes);
    }
    entry("version", b"3\n");
    zip.finish().unwrap();
}

fn global(pickle: &mut Vec<u8>, module: &str, name: &str) {
    pickle.push(b'c');
    pickle.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}

fn unicode(pickle: &mut Vec<u8>, text: &str) {
    pickle.push(b'X');
    pickle.extend_from_slice(&(text.len() as u32).to_le_bytes());
    pickle.extend_from_slice(text.as_bytes());
}

fn int(pickle: &mut Vec<u8>, value: usize) {
    pickle.push(b'J');
    pickle.extend_from_slice(&i32::try_from(value).unwrap().to_le_bytes());
}

/// A tuple of ints: MARK, the ints, TUPLE.
fn ints(pickle: &mut Vec<u8>, values: &[usize]) {
    pickle.push(b'(');
    for &value in values {
        int(pickle, value);
    }
    pickle.push(b't');
}
