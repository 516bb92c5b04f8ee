using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace Broker.Plugins.AuthJwt;

/// <summary>
/// The keys tokens are checked with: the HMAC secret, the configured public key, and the JWKS (swapped whole on each
/// refresh). Signatures are checked with the BCL's primitives, every HMAC comparison in constant time.
/// </summary>
internal sealed class JwtKeys : IDisposable
{
    private readonly byte[] _secret;
    private readonly AsymmetricAlgorithm? _publicKey;
    private volatile IReadOnlyList<(string? Kid, AsymmetricAlgorithm Key)> _jwks = [];

    public JwtKeys(string secret, string publicKeyFile)
    {
        _secret = Encoding.UTF8.GetBytes(secret);
        if (publicKeyFile.Length > 0)
            _publicKey = LoadPublicKey(publicKeyFile);
    }

    /// <summary>Whether a JWKS has been loaded.</summary>
    public bool HasJwks => _jwks.Count > 0;

    /// <summary>Reads a PEM public key (RSA or EC, SubjectPublicKeyInfo or PKCS#1) or certificate.</summary>
    /// <exception cref="PluginConfigurationException">Unreadable or not a key.</exception>
    private static AsymmetricAlgorithm LoadPublicKey(string file)
    {
        string pem;
        try
        {
            pem = File.ReadAllText(file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PluginConfigurationException($"auth.jwt.pubkey = {file}: {ex.Message}");
        }
        try
        {
            if (pem.Contains("CERTIFICATE", StringComparison.Ordinal))
            {
                using var certificate = X509Certificate2.CreateFromPem(pem);
                return (AsymmetricAlgorithm?)certificate.GetRSAPublicKey() ?? certificate.GetECDsaPublicKey()
                    ?? throw new CryptographicException("the certificate has neither an RSA nor an EC key");
            }
            var ec = ECDsa.Create();
            try
            {
                ec.ImportFromPem(pem);
                return ec;
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException)
            {
                ec.Dispose(); // not an EC key: RSA, or an error that names the file
            }
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return rsa;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new PluginConfigurationException($"auth.jwt.pubkey = {file}: not a PEM RSA or EC public key: {ex.Message}");
        }
    }

    /// <summary>Replaces the JWKS with the RSA and EC keys of <paramref name="json"/>; returns how many.</summary>
    /// <exception cref="ArgumentException">Not a JWKS.</exception>
    public int LoadJwks(string json)
    {
        var set = new JsonWebKeySet(json);
        var keys = new List<(string?, AsymmetricAlgorithm)>();
        foreach (var key in set.Keys)
        {
            if (key.Kty == "RSA" && key.N is { } n && key.E is { } e)
            {
                var rsa = RSA.Create();
                rsa.ImportParameters(new RSAParameters { Modulus = Base64UrlEncoder.DecodeBytes(n), Exponent = Base64UrlEncoder.DecodeBytes(e) });
                keys.Add((key.Kid, rsa));
            }
            else if (key.Kty == "EC" && key.X is { } x && key.Y is { } y && Curve(key.Crv) is ({ } curve, var size))
            {
                keys.Add((key.Kid, ECDsa.Create(new ECParameters
                {
                    Curve = curve,
                    Q = new ECPoint { X = Coordinate(x, size), Y = Coordinate(y, size) },
                })));
            }
        }
        // The old keys are not disposed: a check running now may still verify with one (their handles are released
        // by the collector).
        _jwks = keys;
        return keys.Count;
    }

    /// <summary>The curve and the length in bytes of its coordinates.</summary>
    private static (ECCurve Curve, int Size)? Curve(string? crv) => crv switch
    {
        "P-256" => (ECCurve.NamedCurves.nistP256, 32),
        "P-384" => (ECCurve.NamedCurves.nistP384, 48),
        "P-521" => (ECCurve.NamedCurves.nistP521, 66),
        _ => null,
    };

    /// <summary>
    /// A JWK coordinate at its curve's full length. RFC 7518 (6.2.1.2) requires it, but some producers drop leading
    /// zero bytes (PyJWT before 2.8, in Debian 12, among them): about one key in 128, which the BCL then refuses, and
    /// the whole JWKS with it. Padded back, it is the same point.
    /// </summary>
    private static byte[] Coordinate(string value, int size)
    {
        var bytes = Base64UrlEncoder.DecodeBytes(value);
        if (bytes.Length >= size)
            return bytes;
        var padded = new byte[size];
        bytes.CopyTo(padded, size - bytes.Length);
        return padded;
    }

    /// <summary>Whether <paramref name="signature"/> signs <paramref name="input"/> under <paramref name="alg"/> with one of the keys.</summary>
    public bool Verify(string alg, string? kid, byte[] input, byte[] signature)
    {
        switch (alg)
        {
            case "HS256" or "HS384" or "HS512":
                if (_secret.Length == 0)
                    return false;
                var mac = alg switch
                {
                    "HS256" => HMACSHA256.HashData(_secret, input),
                    "HS384" => HMACSHA384.HashData(_secret, input),
                    _ => HMACSHA512.HashData(_secret, input),
                };
                return CryptographicOperations.FixedTimeEquals(mac, signature);
            case "RS256" or "RS384" or "RS512" or "PS256" or "PS384" or "PS512" or "ES256" or "ES384" or "ES512":
                var hash = alg[2..] switch { "256" => HashAlgorithmName.SHA256, "384" => HashAlgorithmName.SHA384, _ => HashAlgorithmName.SHA512 };
                if (_publicKey is not null && VerifyWith(_publicKey, alg, hash, input, signature))
                    return true;
                foreach (var (keyId, key) in _jwks)
                {
                    if ((kid is null || keyId is null || keyId == kid) && VerifyWith(key, alg, hash, input, signature))
                        return true;
                }
                return false;
            default:
                return false; // "none" and anything unknown
        }
    }

    private static bool VerifyWith(AsymmetricAlgorithm key, string alg, HashAlgorithmName hash, byte[] input, byte[] signature)
    {
        try
        {
            return (key, alg[0]) switch
            {
                (RSA rsa, 'R') => rsa.VerifyData(input, signature, hash, RSASignaturePadding.Pkcs1),
                (RSA rsa, 'P') => rsa.VerifyData(input, signature, hash, RSASignaturePadding.Pss),
                (ECDsa ec, 'E') => ec.VerifyData(input, signature, hash),
                _ => false,
            };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _publicKey?.Dispose();
        foreach (var (_, key) in _jwks)
            key.Dispose();
    }
}
