//! The legacy v2 dialect (`/v2/index.php`), pure: decoding, signatures,
//! regions and the `{"code","message","codeDesc","data"}` answer.
//! Never imports hyper, tokio, the clock or the file system, nor `scf3`.

pub mod answer;
pub mod decode;
pub mod region;
pub mod request;
pub mod signature;
