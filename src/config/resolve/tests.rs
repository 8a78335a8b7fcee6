//! The resolve step's rules: what the data complete, what each gate refuses, the defaults
//! that depend on the architecture and the data.
use super::*;

fn shape(height: usize, width: usize, classes: Option<usize>) -> DataShape {
    DataShape {
        channels: 3,
        height,
        width,
        classes,
        train_images: 2704,
        info: DataInfo::default(),
    }
}

#[test]
fn the_data_complete_the_model_and_the_device_is_named() {
    let mut req = TrainRequest::defaults("relative/data");
    req.model.arch = Arch::Conv;
    req.model.conditional = true;
    req.check().unwrap();
    let run = req.resolve(&shape(64, 32, Some(7)), Device::Cpu).unwrap();
    assert_eq!(
        (
            run.model.channels,
            run.model.image_height,
            run.model.image_width
        ),
        (3, 64, 32)
    );
    // 32 halves twice before 8 pixels: two stages, whatever the height allows.
    assert_eq!(run.model.conv_channels, vec![32, 64]);
    assert_eq!(run.model.classes, Some(7));
    assert_eq!(run.train.device, "cpu");
    assert!(run.train.data.is_absolute() && run.train.data.ends_with("relative/data"));
    assert_eq!(run.model.pseudo_inputs, 0);
}

#[test]
fn the_colour_recipe_takes_its_own_flags_on_colour_images_only() {
    let mut req = TrainRequest::defaults("d");
    req.model.colour_recipe = true;
    req.model.depth = Some(vec![3, 2, 1, 1, 1]);
    req.model.width = Some(32);
    req.model.mixtures = Some(5);
    req.check().unwrap();
    let run = req.resolve(&shape(32, 32, None), Device::Cpu).unwrap();
    assert_eq!(run.model.arch, Arch::Hierarchical);
    assert_eq!(run.model.likelihood, Likelihood::LogisticMixture);
    assert_eq!(
        (run.model.depth.clone(), run.model.width, run.model.mixtures),
        (vec![3, 2, 1, 1, 1], 32, 5)
    );
    // On grey images the recipe does not apply, and the error says so.
    let grey = DataShape {
        channels: 1,
        ..shape(32, 32, None)
    };
    let e = format!("{:#}", req.resolve(&grey, Device::Cpu).unwrap_err());
    assert!(e.contains("colour recipe") && e.contains("have 1"), "{e}");
    assert!(
        e.contains("--mixtures 5 is for --likelihood logistic-mixture"),
        "{e}"
    );
    // Flags the recipe cannot take are still refused before the data, with its error.
    req.model.depth = Some(vec![0]);
    let e = format!("{:#}", req.check().unwrap_err());
    assert!(e.contains("--depth must be from 1 to"), "{e}");
    req.model.depth = Some(vec![1]);
    req.model.conditional = true;
    let e = format!("{:#}", req.check().unwrap_err());
    assert!(e.contains("--depth"), "{e}");
}

#[test]
fn hierarchical_epochs_default_to_enough_updates_and_a_given_count_wins() {
    let epochs = |arch, train_images, given: Option<usize>, processes| {
        let mut req = TrainRequest::defaults("d");
        req.model.arch = arch;
        req.epochs = given;
        req.train.processes = processes;
        let data = DataShape {
            train_images,
            ..shape(32, 32, None)
        };
        req.resolve(&data, Device::Cpu).unwrap().train.epochs
    };
    let h = Arch::Hierarchical;
    // Counted by hand, batches of 32: 2,704 sprites are 85 batches, 3,400 / 85 = 40
    // epochs; 50,000 images are 1,563 batches, 3 epochs, raised to the plain 10; 100
    // images are 4 batches, 850 epochs.
    assert_eq!(epochs(h, 2704, None, 1), 40);
    assert_eq!(epochs(h, 50_000, None, 1), 10);
    assert_eq!(epochs(h, 100, None, 1), 850);
    // Two processes: a batch of 64, 43 batches, 3,400 / 43 = 79.07, so 80.
    assert_eq!(epochs(h, 2704, None, 2), 80);
    // Given, the count is the user's; other models keep the plain default.
    assert_eq!(epochs(h, 2704, Some(7), 1), 7);
    assert_eq!(epochs(Arch::Mlp, 2704, None, 1), defaults::EPOCHS);
    assert_eq!(epochs(Arch::Conv, 100, None, 1), 10);
    // The run says which it took, and why.
    let mut req = TrainRequest::defaults("d");
    req.model.arch = h;
    let run = req.resolve(&shape(32, 32, None), Device::Cpu).unwrap();
    let said = req.hierarchical_defaults_taken(&run).unwrap();
    assert!(
        said.contains("defaults: --epochs 40 --lr 2e-3")
            && said.contains("--epochs: at least 10 and 3,400 updates"),
        "{said}"
    );
    req.epochs = Some(40);
    let said = req.hierarchical_defaults_taken(&run).unwrap();
    assert!(!said.contains("--epochs"), "{said}");
}

#[test]
fn each_gate_refuses_what_it_decides() {
    let mut req = TrainRequest::defaults("d");
    req.model.pseudo_inputs = Some(5);
    let e = format!("{:#}", req.check().unwrap_err());
    assert!(e.contains("--pseudo-inputs 5 is for --prior vamp"), "{e}");
    req.model.prior = Prior::Vamp;
    req.check().unwrap();
    req.train.free_bits = 0.5;
    assert!(format!("{:#}", req.check().unwrap_err()).contains("--free-bits"));
    // Sizes are the second gate's: 30x30 does not halve twice.
    let mut req = TrainRequest::defaults("d");
    req.model.arch = Arch::Conv;
    req.model.conv_channels = Some(vec![8, 8]);
    req.check().unwrap();
    let e = format!(
        "{:#}",
        req.resolve(&shape(30, 30, None), Device::Cpu).unwrap_err()
    );
    assert!(e.contains("divisible by 4"), "{e}");
}
