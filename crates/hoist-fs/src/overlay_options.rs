//! overlayfs's mount options for directories held open: the layer cache's mounts and the
//! runtime's rootfs overlay build them the same way.

use std::os::fd::AsRawFd;

/// The kernel's limit on a mount's option string (one page).
const MOUNT_DATA_LIMIT: usize = 4096;

/// `lowerdir=…,upperdir=…,workdir=…` with each directory named by the number of an fd open on
/// it, for a mount made from `/proc/self/fd` as the working directory: the most layers
/// overlayfs stacks (500) fit in the one-page options that way (a cache path is 80 bytes or
/// more; an fd number at most five with its colon), and no path's own `,` or `:` can reach
/// them. `userxattr` keeps overlayfs's metadata in `user.overlay.*` xattrs, as a mount in a
/// user namespace must. `None` if they would still not fit.
pub fn overlay_options(
    lowers_top_first: &[impl AsRawFd],
    upper: &impl AsRawFd,
    work: &impl AsRawFd,
    userxattr: bool,
) -> Option<String> {
    let lowers: Vec<String> = lowers_top_first
        .iter()
        .map(|fd| fd.as_raw_fd().to_string())
        .collect();
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.as_raw_fd(),
        work.as_raw_fd()
    );
    if userxattr {
        data.push_str(",userxattr");
    }
    (data.len() < MOUNT_DATA_LIMIT).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn directories_are_fd_numbers_and_too_many_do_not_fit() {
        let open = || std::fs::File::open("/").unwrap();
        let (a, b, upper, work) = (open(), open(), open(), open());
        let data = overlay_options(&[a.as_fd(), b.as_fd()], &upper, &work, true).unwrap();
        assert_eq!(
            data,
            format!(
                "lowerdir={}:{},upperdir={},workdir={},userxattr",
                a.as_raw_fd(),
                b.as_raw_fd(),
                upper.as_raw_fd(),
                work.as_raw_fd()
            )
        );
        let many = vec![a.as_fd(); 3000];
        assert_eq!(overlay_options(&many, &upper, &work, false), None);
    }
}
