//! RFC 6962 / RFC 9162 Merkle tree hashing with SHA-256: tree heads, inclusion and
//! consistency proofs, and their verification. Proofs are made by the RFC 6962 §2.1
//! recursion; they are checked by the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms, which
//! need nothing but the proof, so anyone can check what the office's log serves.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash: a leaf's, a node's or a tree's.
pub type Digest = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 ‖ data), RFC 6962 §2.1.
pub fn leaf_hash(data: &[u8]) -> Digest {
    Sha256::new()
        .chain_update([0])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right), RFC 6962 §2.1.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Sha256::new()
        .chain_update([1])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The Merkle tree hash of leaf hashes; the empty tree hashes to SHA-256("").
pub fn root(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// A growing tree's right edge: the roots of its perfect subtrees, largest first, so
/// that appending a leaf and taking the tree head cost O(log n) with no leaves kept
/// (as a log writer or a verifier streaming a long log needs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    /// (height, root) of each perfect subtree, heights strictly decreasing.
    peaks: Vec<(u32, Digest)>,
    size: u64,
}

impl Frontier {
    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the leaf whose hash is `leaf`.
    pub fn push(&mut self, leaf: Digest) {
        let mut merged = (0, leaf);
        while let Some(&(height, left)) = self.peaks.last() {
            if height != merged.0 {
                break;
            }
            self.peaks.pop();
            merged = (height + 1, node_hash(&left, &merged.1));
        }
        self.peaks.push(merged);
        self.size += 1;
    }

    /// The tree head: RFC 6962's MTH of the leaves pushed so far. The left subtree of
    /// each split is the largest perfect one, so folding the peaks from the right is
    /// the same recursion.
    pub fn root(&self) -> Digest {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, mut acc)) = peaks.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in peaks {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    1 << (usize::BITS - (n - 1).leading_zeros() - 1)
}

/// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 PATH).
pub fn inclusion_proof(index: usize, leaves: &[Digest]) -> Vec<Digest> {
    assert!(index < leaves.len(), "leaf {index} is not in the tree");
    let mut proof = Vec::new();
    fn path(m: usize, leaves: &[Digest], out: &mut Vec<Digest>) {
        if leaves.len() <= 1 {
            return;
        }
        let k = split(leaves.len());
        if m < k {
            path(m, &leaves[..k], out);
            out.push(root(&leaves[k..]));
        } else {
            path(m - k, &leaves[k..], out);
            out.push(root(&leaves[..k]));
        }
    }
    path(index, leaves, &mut proof);
    proof
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of
/// `leaves` (RFC 6962 PROOF).
pub fn consistency_proof(old_size: usize, leaves: &[Digest]) -> Vec<Digest> {
    assert!(
        old_size <= leaves.len(),
        "the old tree is larger than the new"
    );
    let mut proof = Vec::new();
    fn subproof(m: usize, leaves: &[Digest], whole: bool, out: &mut Vec<Digest>) {
        let n = leaves.len();
        if m == n {
            if !whole {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &leaves[..k], whole, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(root(&leaves[..k]));
        }
    }
    if old_size > 0 {
        subproof(old_size, leaves, true, &mut proof);
    }
    proof
}

/// Does `proof` show `leaf` at `index` in the tree of `size` leaves with `root`?
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Digest,
    proof: &[Digest],
    root: &Digest,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Does `proof` show the tree (`old_size`, `old_root`) is a prefix of the tree
/// (`new_size`, `new_root`)?
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Digest> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *old_root && sr == *new_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves and tree heads every RFC 6962 implementation tests against
    /// (Certificate Transparency's reference test data).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn d(hex: &str) -> Digest {
        hex::decode(hex).unwrap().try_into().unwrap()
    }

    fn leaves() -> Vec<Digest> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    #[test]
    fn tree_heads_match_the_reference() {
        let leaves = leaves();
        for (n, expected) in ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..n]), d(expected), "size {n}");
        }
    }

    #[test]
    fn proofs_match_the_reference() {
        let leaves = leaves();
        let inclusion: [(usize, usize, Vec<&str>); 3] = [
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
        ];
        for (index, size, expected) in inclusion {
            let proof = inclusion_proof(index, &leaves[..size]);
            assert_eq!(proof, expected.iter().map(|h| d(h)).collect::<Vec<_>>());
            let root = d(ROOTS[size]);
            assert!(verify_inclusion(
                index as u64,
                size as u64,
                &leaves[index],
                &proof,
                &root
            ));
        }
        let consistency: [(usize, usize, Vec<&str>); 3] = [
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, expected) in consistency {
            let proof = consistency_proof(old, &leaves[..new]);
            assert_eq!(proof, expected.iter().map(|h| d(h)).collect::<Vec<_>>());
            assert!(verify_consistency(
                old as u64,
                new as u64,
                &d(ROOTS[old]),
                &d(ROOTS[new]),
                &proof
            ));
        }
    }

    #[test]
    fn every_proof_in_trees_up_to_40_verifies_and_changes_fail() {
        let leaves: Vec<Digest> = (0..40u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        for n in 1..leaves.len() {
            let tree = &leaves[..n];
            let head = root(tree);
            for i in 0..n {
                let proof = inclusion_proof(i, tree);
                assert!(verify_inclusion(
                    i as u64, n as u64, &tree[i], &proof, &head
                ));
                let other = (i + 1) % n;
                if other != i {
                    assert!(!verify_inclusion(
                        other as u64,
                        n as u64,
                        &tree[i],
                        &proof,
                        &head
                    ));
                }
            }
            for m in 0..=n {
                let proof = consistency_proof(m, tree);
                let old = root(&leaves[..m]);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &head, &proof),
                    "{m}->{n}"
                );
                if m > 0 && m < n {
                    // A rewritten old tree does not fit the new one.
                    let rewritten = node_hash(&old, &old);
                    assert!(!verify_consistency(
                        m as u64, n as u64, &rewritten, &head, &proof
                    ));
                    let other_head = root(&leaves[..n + 1]);
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &old,
                        &other_head,
                        &proof
                    ));
                }
            }
        }
    }

    proptest::proptest! {
        /// The frontier's head is the recursive MTH at every size.
        #[test]
        fn the_frontier_agrees_with_the_recursive_tree_head(n in 0usize..300) {
            let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let mut frontier = Frontier::default();
            proptest::prop_assert_eq!(frontier.root(), root(&[]));
            for (i, leaf) in leaves.iter().enumerate() {
                frontier.push(*leaf);
                proptest::prop_assert_eq!(frontier.root(), root(&leaves[..=i]));
            }
            proptest::prop_assert_eq!(frontier.size(), n as u64);
        }
    }
}
