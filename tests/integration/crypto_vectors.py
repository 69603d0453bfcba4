#!/usr/bin/python3
"""An independent implementation of the dapr.io/enc/v1 format, written from its published
description (dapr/kit schemes/enc/v1/README.md, sidecar-api.md section 11) on Debian's
python3-cryptography, to cross-check daprd's C implementation in both directions.

  crypto_vectors.py gen <dir>
      write key files (oct256.json, rsa.pem, rsa-pub.pem) and test vectors <name>.enc with
      their plaintexts <name>.plain into <dir>; print one line per vector:
      <name> <wrapping key file> <cipher>
  crypto_vectors.py decrypt <key file> <in.enc> <out.plain>
      decrypt a dapr.io/enc/v1 file (e.g. produced by daprd) with the key file; exit 1 when it
      does not authenticate.
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

SCHEME = b"dapr.io/enc/v1"
SEGMENT = 64 * 1024
TAG = 16
KW_IDS = {"A256KW": 1, "RSA-OAEP-256": 5}
CIPHERS = {1: AESGCM, 2: ChaCha20Poly1305}
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                    algorithm=hashes.SHA256(), label=None)


def hkdf(ikm, salt, info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def header_mac(file_key, first_two_lines):
    h = HMAC(hkdf(file_key, None, b"header"), hashes.SHA256())
    h.update(first_two_lines)
    return h.finalize()


def nonce(prefix, i, last):
    return prefix + i.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def load_key(path):
    data = open(path, "rb").read()
    if path.endswith(".json"):
        return ("oct", b64url_decode(json.loads(data)["k"]))
    key = serialization.load_pem_private_key(data, password=None)
    return ("rsa", key)


def wrap(key, alg, file_key):
    kind, k = key
    if alg == "A256KW":
        return aes_key_wrap(k, file_key)
    pub = k.public_key() if hasattr(k, "public_key") else k
    return pub.encrypt(file_key, OAEP)


def unwrap(key, kw, wfk):
    kind, k = key
    if kw == 1:
        return aes_key_unwrap(k, wfk)
    if kw == 5:
        return k.decrypt(wfk, OAEP)
    raise ValueError("unsupported key wrapping algorithm %d" % kw)


def encrypt(plaintext, key, alg, cipher_id, key_name):
    file_key, prefix = os.urandom(32), os.urandom(7)
    manifest = {}
    if key_name:
        manifest["k"] = key_name
    manifest["kw"] = KW_IDS[alg]
    manifest["wfk"] = base64.b64encode(wrap(key, alg, file_key)).decode()
    manifest["cph"] = cipher_id
    manifest["np"] = base64.b64encode(prefix).decode()
    head = SCHEME + b"\n" + json.dumps(manifest, separators=(",", ":")).encode() + b"\n"
    out = head + base64.b64encode(header_mac(file_key, head)) + b"\n"
    aead = CIPHERS[cipher_id](hkdf(file_key, prefix, b"payload"))
    segs = [plaintext[i:i + SEGMENT] for i in range(0, len(plaintext), SEGMENT)]
    for i, seg in enumerate(segs):
        out += aead.encrypt(nonce(prefix, i, i == len(segs) - 1), seg, None)
    return out


def decrypt(data, key):
    lines = data.split(b"\n", 3)
    if len(lines) < 4 or lines[0] != SCHEME:
        raise ValueError("bad header")
    m = json.loads(lines[1])
    file_key = unwrap(key, m["kw"], base64.b64decode(m["wfk"]))
    head = lines[0] + b"\n" + lines[1] + b"\n"
    if base64.b64decode(lines[2]) != header_mac(file_key, head):
        raise ValueError("header MAC mismatch")
    prefix = base64.b64decode(m["np"])
    if len(prefix) != 7:
        raise ValueError("bad nonce prefix")
    aead = CIPHERS[m["cph"]](hkdf(file_key, prefix, b"payload"))
    body, out = lines[3], b""
    step = SEGMENT + TAG
    n = (len(body) + step - 1) // step
    for i in range(n):
        out += aead.decrypt(nonce(prefix, i, i == n - 1), body[i * step:(i + 1) * step], None)
    return out


def gen(d):
    os.makedirs(d, exist_ok=True)
    oct_key = bytes(range(32))
    with open(os.path.join(d, "oct256.json"), "w") as f:
        json.dump({"kty": "oct", "k": base64.urlsafe_b64encode(oct_key).decode().rstrip("=")},
                  f)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(os.path.join(d, "rsa.pem"), "wb") as f:
        f.write(rsa_key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with open(os.path.join(d, "rsa-pub.pem"), "wb") as f:
        f.write(rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    keys = {"oct256.json": (("oct", oct_key), "A256KW"), "rsa.pem": (("rsa", rsa_key),
                                                                      "RSA-OAEP-256")}
    sizes = [0, 1, 11, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 150000]
    for keyfile, (key, alg) in keys.items():
        for cph in (1, 2):
            for size in sizes:
                name = "%s-%d-%d" % (keyfile.split(".")[0], cph, size)
                plain = bytes((i * 7 + size) & 0xFF for i in range(size))
                with open(os.path.join(d, name + ".plain"), "wb") as f:
                    f.write(plain)
                with open(os.path.join(d, name + ".enc"), "wb") as f:
                    f.write(encrypt(plain, key, alg, cph, keyfile))
                print(name, keyfile, cph)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "decrypt":
        try:
            out = decrypt(open(sys.argv[3], "rb").read(), load_key(sys.argv[2]))
        except Exception as e:  # noqa: BLE001 - any failure means "does not decrypt"
            print("decrypt failed: %r" % e, file=sys.stderr)
            sys.exit(1)
        with open(sys.argv[4], "wb") as f:
            f.write(out)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
