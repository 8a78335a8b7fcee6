//! `train`'s flags against `--resume` and `--preset`, and the defaults they resolve to.
use super::*;
use clap::CommandFactory;

/// Every flag of `train` is either taken by `--resume` or refused with it: a flag added
/// later cannot be ignored silently on resume.
#[test]
fn every_training_flag_is_taken_or_refused_with_resume() {
    let mut cli = crate::cli::Cli::command();
    cli.build();
    let train = cli.find_subcommand("train").unwrap().clone();
    let ids: Vec<&str> = train.get_arguments().map(|a| a.get_id().as_str()).collect();
    for taken in RESUME_TAKES {
        assert!(
            ids.contains(&taken),
            "--resume takes an unknown flag {taken}"
        );
    }
    let mut refused = 0;
    for arg in train.get_arguments() {
        let (Some(long), id) = (arg.get_long(), arg.get_id().as_str()) else {
            continue;
        };
        if id == "resume" || id == "help" {
            continue;
        }
        let mut line = vec!["tch-vae", "train", "--resume", "run"];
        let flag = format!("--{long}");
        line.push(&flag);
        let values = arg.get_possible_values();
        let value = values.first().map_or("1", |v| v.get_name());
        if arg.get_action().takes_values() {
            line.push(value);
        }
        let matches = cli.clone().try_get_matches_from(&line).unwrap();
        let (_, given) = matches.subcommand().unwrap();
        let found = refused_with_resume(&train, given);
        if RESUME_TAKES.contains(&id) {
            assert!(found.is_empty(), "{flag} is taken with --resume: {found:?}");
        } else {
            assert_eq!(
                found,
                vec![flag.clone()],
                "{flag} must be refused with --resume"
            );
            refused += 1;
        }
    }
    // The 28 flags of a new run's config and its run folder.
    assert!(refused >= 28, "{refused}");
}

/// The request `train` makes of `flags`.
fn request(flags: &[&str]) -> TrainRequest {
    use clap::FromArgMatches;
    let line = [&["tch-vae", "train"][..], flags].concat();
    let matches = crate::cli::Cli::command()
        .try_get_matches_from(line)
        .unwrap();
    let (_, given) = matches.subcommand().unwrap();
    TrainArgs::from_arg_matches(given).unwrap().into_request()
}

#[test]
fn a_preset_fills_the_flags_left_out_and_no_more() {
    let r = request(&["--preset", "vdvae-cifar10"]);
    let shape = tch_vae::config::DataShape {
        channels: 3,
        height: 32,
        width: 32,
        classes: None,
        train_images: 50_000,
        info: Default::default(),
    };
    r.check().unwrap();
    let run = r.resolve(&shape, tch::Device::Cpu).unwrap();
    let (m, t) = (&run.model, &run.train);
    assert_eq!(
        (m.arch, m.likelihood, m.mixtures),
        (Arch::Hierarchical, Likelihood::LogisticMixture, 10)
    );
    assert_eq!(
        (m.width, m.latent, m.depth.as_slice()),
        (384, 16, &[1, 3, 6, 11, 22][..])
    );
    assert_eq!(
        (t.lr, t.batch_size, t.clip_grad, t.skip_threshold),
        (2e-4, 16, Some(614400.0), Some(1228800.0))
    );
    assert_eq!(t.preset, Some(tch_vae::config::Preset::VdvaeCifar10));
    assert_eq!(
        t.lr_schedule,
        LrSchedule::Constant,
        "VDVAE's rate after its warm-up"
    );
    // VDVAE's 43 groups: 1 + 3 + 6 + 11 + 22.
    assert_eq!(m.resolutions().len(), 5);
    // Given flags win; the colour recipe stays off.
    let r = request(&[
        "--preset",
        "vdvae-cifar10",
        "--width",
        "64",
        "--lr",
        "1e-3",
        "--batch-size",
        "8",
    ]);
    assert_eq!(
        (r.model.width, r.train.lr, r.train.batch_size),
        (Some(64), 1e-3, 8)
    );
    assert!(!r.model.colour_recipe);
    // Without a preset: the plain defaults.
    let r = request(&[]);
    assert_eq!(
        (r.train.lr, r.train.batch_size, r.train.preset),
        (defaults::LR, defaults::BATCH_SIZE, None)
    );
    assert!(r.model.colour_recipe);
    // NVAE's: its 30 groups at 16x16, Adam at 1e-2 under a cosine, no clipping.
    let run = request(&["--preset", "nvae-cifar10"])
        .resolve(&shape, tch::Device::Cpu)
        .unwrap();
    let (m, t) = (&run.model, &run.train);
    assert_eq!(
        (m.width, m.latent, m.depth.as_slice(), m.depth_at(3)),
        (128, 20, &[1, 1, 1, 30, 1][..], 30)
    );
    assert_eq!(m.resolutions()[3], (16, 16));
    assert_eq!(
        (
            t.lr,
            t.lr_schedule,
            t.batch_size,
            t.clip_grad,
            t.skip_threshold
        ),
        (1e-2, LrSchedule::Cosine, 32, None, None)
    );
    let r = request(&["--arch", "hierarchical", "--depth", "1,3,6,11,22"]);
    assert_eq!(r.model.depth, Some(vec![1, 3, 6, 11, 22]));
    // The hierarchical model's own rate, schedule and clipping, unless given: VDVAE's 200
    // nats per value, 3 x 32 x 32 values here.
    let run = r.resolve(&shape, tch::Device::Cpu).unwrap();
    assert_eq!(
        (
            run.train.lr,
            run.train.lr_schedule,
            run.train.batch_size,
            run.train.clip_grad
        ),
        (
            defaults::HIERARCHICAL_LR,
            LrSchedule::Cosine,
            32,
            Some(614400.0)
        )
    );
    // The colour recipe is that model; 0 turns the clipping off, a number sets it.
    let clip = |flags: &[&str]| request(flags).resolve(&shape, tch::Device::Cpu).unwrap();
    assert_eq!(clip(&[]).train.clip_grad, Some(614400.0));
    assert_eq!(clip(&["--clip-grad", "0"]).train.clip_grad, None);
    assert_eq!(clip(&["--clip-grad", "5"]).train.clip_grad, Some(5.0));
    let grey = tch_vae::config::DataShape {
        channels: 1,
        height: 28,
        width: 28,
        ..shape.clone()
    };
    let hier = request(&["--arch", "hierarchical", "--likelihood", "logistic"]);
    let run = hier.resolve(&grey, tch::Device::Cpu).unwrap();
    assert_eq!(run.train.clip_grad, Some(200.0 * 784.0));
    let r = request(&[
        "--arch",
        "hierarchical",
        "--lr",
        "5e-4",
        "--lr-schedule",
        "constant",
    ]);
    let run = r.resolve(&shape, tch::Device::Cpu).unwrap();
    assert_eq!(
        (run.train.lr, run.train.lr_schedule),
        (5e-4, LrSchedule::Constant)
    );
    let run = request(&["--arch", "conv"])
        .resolve(&shape, tch::Device::Cpu)
        .unwrap();
    assert_eq!(
        (run.train.lr, run.train.lr_schedule, run.train.clip_grad),
        (defaults::LR, LrSchedule::Constant, None)
    );
}

#[test]
fn a_preset_on_other_images_names_itself_and_the_fix() {
    let grey = tch_vae::config::DataShape {
        channels: 1,
        height: 28,
        width: 28,
        classes: None,
        train_images: 60_000,
        info: Default::default(),
    };
    // 28x28 halves to 14 and 7: four resolutions, not the recipe's five.
    let e = request(&["--preset", "vdvae-cifar10"])
        .resolve(&grey, tch::Device::Cpu)
        .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.starts_with("--preset vdvae-cifar10 is a recipe for CIFAR-10's 32x32")
            && e.contains("these are 28x28 with 1 channel(s); give --depth")
            && e.contains("these 28x28 images have 4 (1x1, 7x7, 14x14, 28x28)"),
        "{e}"
    );
    // The user's own --depth fits them, and the rest of the recipe stays.
    let run = request(&["--preset", "vdvae-cifar10", "--depth", "2"])
        .resolve(&grey, tch::Device::Cpu)
        .unwrap();
    assert_eq!((run.model.width, run.model.depth_at(3)), (384, 2));
}
