//! Who is on the other end of a Unix socket, as the kernel says (SO_PEERCRED), with the
//! user's name and groups from the system's user database. Nothing the client sends is
//! believed.

use std::ffi::CStr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::policy::Peer;

/// The peer's user id, from the kernel.
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a valid ucred and `len` its size, as SO_PEERCRED expects.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The user `uid` with its name and groups; a uid the user database does not know is
/// named by its number and has no groups.
pub fn lookup(uid: u32) -> Peer {
    let Some((name, gid)) = user_entry(uid) else {
        return Peer {
            uid,
            user: uid.to_string(),
            groups: Vec::new(),
        };
    };
    let groups = group_ids(&name, gid)
        .into_iter()
        .filter_map(group_name)
        .collect();
    Peer {
        uid,
        user: name,
        groups,
    }
}

/// The process's own user.
pub fn current() -> Peer {
    // SAFETY: getuid cannot fail.
    lookup(unsafe { libc::getuid() })
}

fn user_entry(uid: u32) -> Option<(String, u32)> {
    let mut buffer = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain data, filled by getpwuid_r.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given; the strings it sets point
    // into `buffer`, read before `buffer` is dropped.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string in `buffer`.
    let name = unsafe { CStr::from_ptr(entry.pw_name) }
        .to_string_lossy()
        .into_owned();
    Some((name, entry.pw_gid))
}

fn group_ids(user: &str, gid: u32) -> Vec<u32> {
    let Ok(name) = std::ffi::CString::new(user) else {
        return vec![gid];
    };
    let mut count: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; count as usize];
        let asked = count;
        // SAFETY: `groups` holds `count` entries; getgrouplist updates `count`.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count as usize);
            return groups;
        }
        if count <= asked {
            count = asked * 2;
        }
        if count > 65_536 {
            return vec![gid];
        }
    }
}

fn group_name(gid: u32) -> Option<String> {
    let mut buffer = vec![0u8; 64 * 1024];
    // SAFETY: group is plain data, filled by getgrgid_r.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as for getpwuid_r.
    let rc = unsafe {
        libc::getgrgid_r(
            gid,
            &mut entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    // SAFETY: gr_name is a NUL-terminated string in `buffer`.
    Some(
        unsafe { CStr::from_ptr(entry.gr_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_a_socket_pair_is_this_process_user() {
        let (a, _b) = UnixStream::pair().unwrap();
        // SAFETY: getuid cannot fail.
        assert_eq!(peer_uid(&a).unwrap(), unsafe { libc::getuid() });
        let me = current();
        assert!(!me.user.is_empty());
        assert!(!me.groups.is_empty());
    }
}
