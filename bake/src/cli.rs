//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build golden Kubernetes node images from offline bundles.
#[derive(Debug, Parser)]
#[command(name = "bake", version, about, long_about = None, after_help = "Example:\n  bake bundle create --spec examples/bundle.yaml --out k8s-v1.36.2.bundle\n  bake bundle verify k8s-v1.36.2.bundle")]
pub struct Cli {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, sign, verify and inspect offline bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Stage a bundle into a node root (a directory, or `/` in a Packer build VM): versioned
    /// binaries with /usr/local/bin links, image archives (optionally imported into containerd and
    /// pinned), release index, systemd units, containerd/crictl/sysctl config, staged.json.
    #[command(
        after_help = "Example:\n  bake stage k8s-v1.36.2.bundle --root / --import-images --public-key kubebake.pub\n  bake stage k8s-v1.37.0.bundle --root ./rootfs            # beside v1.36.2; links unchanged\n  bake stage k8s-v1.37.0.bundle --root ./rootfs --activate # switch the links to v1.37.0"
    )]
    Stage(StageArgs),
    /// Check an image root for node-specific or secret state and for staged files that changed;
    /// with --fix, remove what is safe to remove. Exits 1 while findings remain.
    #[command(
        after_help = "Example:\n  bake check --root / --fix\n  bake check --root ./rootfs -o json"
    )]
    Check(CheckArgs),
}

/// Arguments of `stage`.
#[derive(Debug, Args)]
pub struct StageArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// The node root.
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Signature check.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Import the images into containerd (k8s.io namespace) and pin them.
    #[arg(long)]
    pub import_images: bool,
    /// Make this version active even if another version is.
    #[arg(long)]
    pub activate: bool,
    /// containerd socket used by --import-images.
    #[arg(
        long,
        default_value = "/run/containerd/containerd.sock",
        value_name = "SOCKET"
    )]
    pub containerd_address: String,
    /// The ctr binary used by --import-images.
    #[arg(long, default_value = "ctr", value_name = "PATH")]
    pub ctr: PathBuf,
    /// Verify the bundle and print what would be staged; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format of the summary.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The image root.
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// Remove what is safe to remove (never staged artifacts).
    #[arg(long)]
    pub fix: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable table.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
}

/// `bake bundle …`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Build a bundle from a BundleSpec: binaries and labels from a release mirror, images from a
    /// registry or a local OCI layout; every sha256 verified; written atomically.
    #[command(
        after_help = "Example:\n  bake bundle create --spec examples/bundle.yaml --out k8s-v1.36.2.bundle\n  bake bundle create --spec spec.yaml --out b.bundle --parallel 8 -o json"
    )]
    Create(CreateArgs),
    /// Verify a bundle in one streaming pass: every entry against the manifest, and the minisign
    /// signature when a public key is given.
    #[command(
        after_help = "Example:\n  bake bundle verify k8s-v1.36.2.bundle --public-key kubebake.pub"
    )]
    Verify(VerifyArgs),
    /// Print a bundle's inventory (verifies it first).
    #[command(
        after_help = "Example:\n  bake bundle inspect k8s-v1.36.2.bundle\n  bake bundle inspect k8s-v1.36.2.bundle -o json | jq '.images[].name'"
    )]
    Inspect(InspectArgs),
    /// Verify a bundle and unpack it into a new directory in the same streaming pass (nothing is
    /// left behind when verification fails).
    #[command(
        after_help = "Example:\n  bake bundle unpack k8s-v1.36.2.bundle --dest /srv/k8s-v1.36.2 --public-key kubebake.pub"
    )]
    Unpack(UnpackArgs),
    /// Sign a bundle with a minisign secret key, writing BUNDLE.minisig.
    #[command(
        after_help = "Example:\n  minisign -G -W -p kubebake.pub -s kubebake.key   # a key pair, once\n  bake bundle sign k8s-v1.36.2.bundle --secret-key kubebake.key\n  minisign -Vm k8s-v1.36.2.bundle -p kubebake.pub     # checks with the standard tool"
    )]
    Sign(SignArgs),
}

/// Arguments of `bundle create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The BundleSpec file.
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// The bundle file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Concurrent downloads.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Retries of transient network failures per artifact.
    #[arg(long, default_value_t = offline::fetch::DEFAULT_RETRIES)]
    pub retries: u32,
    /// gzip compression level (0–9).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression: u32,
    /// Carry this firstboot binary as bin/firstboot (default: the firstboot beside bake).
    #[arg(long, value_name = "PATH", conflicts_with = "no_firstboot")]
    pub firstboot: Option<PathBuf>,
    /// Carry no firstboot binary.
    #[arg(long)]
    pub no_firstboot: bool,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format of the summary.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Signature options shared by verify and inspect.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// minisign public key; the bundle's signature must verify against it.
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<PathBuf>,
    /// Signature file (default: BUNDLE.minisig).
    #[arg(long, value_name = "FILE", requires = "public_key")]
    pub signature: Option<PathBuf>,
}

/// Arguments of `bundle verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Signature check.
    #[command(flatten)]
    pub key: KeyArgs,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Arguments of `bundle inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Signature check.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// Arguments of `bundle unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// Directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// Signature check.
    #[command(flatten)]
    pub key: KeyArgs,
    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Arguments of `bundle sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The bundle file.
    pub bundle: PathBuf,
    /// minisign secret key file.
    #[arg(long, value_name = "FILE")]
    pub secret_key: PathBuf,
    /// File holding the key's password, for a password-protected key (never logged).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Where to write the signature (default: BUNDLE.minisig).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}
