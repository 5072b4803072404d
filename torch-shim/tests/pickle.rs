//! Files written by Python's torch.save in the test virtualenv, read back: the layouts DC/DSA/DM
//! (`{'data': [[images, labels]], 'accs_all_exps': {...}}`) and MTT (a bare tensor, one requiring
//! grad) write, with values equal to what Python saved; a file that is not one is an error
//! naming it.

use std::path::Path;
use std::process::Command;
use tch::{Kind, Tensor};

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

fn write_with_python(dir: &Path) {
    let script = r#"
import sys, torch
d = sys.argv[1]
g = torch.Generator().manual_seed(0)
img = torch.randn(20, 3, 8, 8, generator=g)
lab = torch.arange(10).repeat_interleave(2)
torch.save({'data': [[img.clone(), lab.clone()], [img * 2, lab]], 'accs_all_exps': {'ConvNet': [0.5, 0.6]}}, f'{d}/res.pt')
syn = img.clone().requires_grad_(True)
torch.save(syn.cpu(), f'{d}/images_best.pt')
torch.save((img[:2], (lab[:2],)), f'{d}/tuple.pt')
torch.save(img, f'{d}/reference.pt')
"#;
    let out = Command::new(python())
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .expect("running the test venv's python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn names(v: &[(String, Tensor)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn torch_save_layouts_read_back_with_their_values() {
    let dir = tempfile::tempdir().unwrap();
    write_with_python(dir.path());
    let img = {
        let v = ddbench_torch_shim::load(&dir.path().join("reference.pt")).unwrap();
        assert_eq!(names(&v), [""]);
        v.into_iter().next().unwrap().1
    };
    assert_eq!(img.size(), [20, 3, 8, 8]);
    assert_eq!(img.kind(), Kind::Float);

    let dc = ddbench_torch_shim::load(&dir.path().join("res.pt")).unwrap();
    assert_eq!(names(&dc), ["data.0.0", "data.0.1", "data.1.0", "data.1.1"]);
    assert!(dc[0].1.equal(&img));
    assert!(dc[2].1.equal(&(&img * 2)));
    assert_eq!(dc[1].1.kind(), Kind::Int64);
    let want = Tensor::arange(10, (Kind::Int64, tch::Device::Cpu))
        .repeat_interleave_self_int(2, None, None);
    assert!(dc[1].1.equal(&want));

    let mtt = ddbench_torch_shim::load(&dir.path().join("images_best.pt")).unwrap();
    assert_eq!(names(&mtt), [""]);
    assert!(mtt[0].1.detach().equal(&img));

    let tup = ddbench_torch_shim::load(&dir.path().join("tuple.pt")).unwrap();
    assert_eq!(names(&tup), ["0", "1.0"]);
}

#[test]
fn a_file_torch_save_did_not_write_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("notes.pt");
    std::fs::write(&bad, b"not a pickle").unwrap();
    let e = ddbench_torch_shim::load(&bad).unwrap_err();
    assert!(
        e.contains("notes.pt: not a file torch.save wrote (libtorch: "),
        "{e}"
    );
    let e = ddbench_torch_shim::load(&dir.path().join("missing.pt")).unwrap_err();
    assert!(e.contains("missing.pt"), "{e}");
}
