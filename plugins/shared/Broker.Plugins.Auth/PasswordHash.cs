using System.Security.Cryptography;
using System.Text;

namespace Broker.Plugins.Auth;

/// <summary>Where the salt goes relative to the password before hashing (EMQX 4's <c>salt,sha256</c> / <c>sha256,salt</c>).</summary>
public enum SaltPosition
{
    /// <summary>No salt.</summary>
    None,
    /// <summary><c>salt,&lt;hash&gt;</c>: hash(salt + password).</summary>
    Prefix,
    /// <summary><c>&lt;hash&gt;,salt</c>: hash(password + salt).</summary>
    Suffix,
}

/// <summary>
/// One of EMQX 4's <c>password_hash</c> settings, and the check of a password against what the backend stores:
/// <c>plain | md5 | sha | sha256 | sha512 | bcrypt | pbkdf2,&lt;macfun&gt;,&lt;iterations&gt;,&lt;dklen&gt;</c>, with a
/// salt before (<c>salt,sha256</c>) or after (<c>sha256,salt</c>) the password. Digests are compared as lower-case hex,
/// as EMQX writes them (an upper-case stored digest is accepted too); every comparison takes the same time whatever
/// the bytes.
/// </summary>
/// <remarks>
/// <c>bcrypt</c>: the stored value is a bcrypt hash (<c>$2a$</c>, <c>$2b$</c>, <c>$2y$</c>, as <c>htpasswd -B</c> and
/// most libraries write it) and carries its own salt; when it does not start with <c>$2</c> and the query returns a
/// salt that does (EMQX 4 hashes with the salt column, <c>bcrypt:hashpw(Password, Salt)</c>), the password is hashed
/// with that salt and compared with the stored value. <c>pbkdf2</c>: the stored value is the hex of
/// PBKDF2(macfun, password, salt, iterations, dklen), salt being the query's salt column; <c>macfun</c> is one of
/// <c>md5, sha, sha224</c> (not available here: refused), <c>sha256, sha384, sha512</c>. Passwords and salts are
/// UTF-8.
/// </remarks>
public sealed class PasswordHash
{
    private readonly Algorithm _algorithm;
    private readonly HashAlgorithmName _pbkdf2Mac;
    private readonly int _iterations;
    private readonly int _derivedKeyLength;

    private PasswordHash(string spec, Algorithm algorithm, SaltPosition salt, HashAlgorithmName mac = default, int iterations = 0, int dklen = 0)
    {
        Spec = spec;
        _algorithm = algorithm;
        Salt = salt;
        _pbkdf2Mac = mac;
        _iterations = iterations;
        _derivedKeyLength = dklen;
    }

    private enum Algorithm
    {
        Plain,
        Md5,
        Sha1,
        Sha256,
        Sha512,
        Bcrypt,
        Pbkdf2,
    }

    /// <summary>The setting as written.</summary>
    public string Spec { get; }

    /// <summary>Where the salt goes (<see cref="SaltPosition.None"/> for plain, bcrypt and pbkdf2, which use it their own way).</summary>
    public SaltPosition Salt { get; }

    /// <summary>Whether checking is slow on purpose (bcrypt, pbkdf2): callers run it off the I/O threads.</summary>
    public bool IsSlow => _algorithm is Algorithm.Bcrypt or Algorithm.Pbkdf2;

    /// <summary>Parses a <c>password_hash</c> value.</summary>
    /// <exception cref="FormatException">Not one of the forms above; the message lists them.</exception>
    public static PasswordHash Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var parts = spec.Split(',', StringSplitOptions.TrimEntries);
        if (parts[0] == "pbkdf2")
        {
            if (parts.Length != 4)
                throw Invalid(spec, "pbkdf2 takes pbkdf2,<macfun>,<iterations>,<dklen>, e.g. pbkdf2,sha256,1000,20");
            HashAlgorithmName mac = parts[1] switch
            {
                "md5" => HashAlgorithmName.MD5,
                "sha" => HashAlgorithmName.SHA1,
                "sha256" => HashAlgorithmName.SHA256,
                "sha384" => HashAlgorithmName.SHA384,
                "sha512" => HashAlgorithmName.SHA512,
                _ => throw Invalid(spec, $"pbkdf2's macfun must be one of md5, sha, sha256, sha384, sha512, not '{parts[1]}'"),
            };
            if (!int.TryParse(parts[2], out var iterations) || iterations < 1)
                throw Invalid(spec, "pbkdf2's iterations must be a positive number");
            if (!int.TryParse(parts[3], out var dklen) || dklen < 1 || dklen > 1024)
                throw Invalid(spec, "pbkdf2's dklen must be between 1 and 1024 bytes");
            return new PasswordHash(spec, Algorithm.Pbkdf2, SaltPosition.None, mac, iterations, dklen);
        }
        var (name, salt) = parts switch
        {
            [var one] => (one, SaltPosition.None),
            ["salt", var two] => (two, SaltPosition.Prefix),
            [var two, "salt"] => (two, SaltPosition.Suffix),
            _ => throw Invalid(spec, null),
        };
        var algorithm = name switch
        {
            "plain" => Algorithm.Plain,
            "md5" => Algorithm.Md5,
            "sha" => Algorithm.Sha1,
            "sha256" => Algorithm.Sha256,
            "sha512" => Algorithm.Sha512,
            "bcrypt" => Algorithm.Bcrypt,
            _ => throw Invalid(spec, null),
        };
        if (algorithm is Algorithm.Plain or Algorithm.Bcrypt)
            salt = SaltPosition.None; // "salt,bcrypt" is EMQX's way of saying the query returns a salt column
        return new PasswordHash(spec, algorithm, salt);
    }

    private static FormatException Invalid(string spec, string? why) => new(
        $"'{spec}' is not a password hash: {why ?? "use plain, md5, sha, sha256, sha512, bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>, with salt as prefix (salt,sha256) or suffix (sha256,salt)"}");

    /// <summary>
    /// Whether <paramref name="password"/> matches <paramref name="stored"/> (what the backend returned in its password
    /// field) with <paramref name="salt"/> (its salt field, if the query returns one).
    /// </summary>
    public bool Verify(ReadOnlySpan<byte> password, string? stored, string? salt)
    {
        if (string.IsNullOrEmpty(stored))
            return false;
        switch (_algorithm)
        {
            case Algorithm.Plain:
                return FixedTimeEquals(password, stored);
            case Algorithm.Bcrypt:
                return VerifyBcrypt(password, stored, salt);
            default:
                Span<byte> expected = stackalloc byte[64];
                var length = HexLength(stored);
                if (length < 0 || length > expected.Length || !TryFromHex(stored, expected[..length]))
                    return false;
                Span<byte> actual = stackalloc byte[64];
                var written = Compute(password, salt, actual, length);
                return written == length && CryptographicOperations.FixedTimeEquals(actual[..written], expected[..length]);
        }
    }

    /// <summary>
    /// What a backend would store for <paramref name="password"/> with <paramref name="salt"/> (lower-case hex; for
    /// bcrypt a new bcrypt hash, cost 10). For operators' tooling and tests.
    /// </summary>
    public string Hash(string password, string? salt = null)
    {
        if (_algorithm == Algorithm.Plain)
            return password;
        if (_algorithm == Algorithm.Bcrypt)
            return BCrypt.Net.BCrypt.HashPassword(password, 10);
        Span<byte> digest = stackalloc byte[Math.Max(64, _derivedKeyLength)];
        var written = Compute(Encoding.UTF8.GetBytes(password), salt, digest, _derivedKeyLength);
        return Convert.ToHexStringLower(digest[..written]);
    }

    private int Compute(ReadOnlySpan<byte> password, string? salt, Span<byte> destination, int derivedKeyLength)
    {
        if (_algorithm == Algorithm.Pbkdf2)
        {
            if (derivedKeyLength != _derivedKeyLength)
                return -1;
            Rfc2898DeriveBytes.Pbkdf2(password, Encoding.UTF8.GetBytes(salt ?? ""), destination[.._derivedKeyLength], _iterations, _pbkdf2Mac);
            return _derivedKeyLength;
        }
        var input = password;
        byte[]? salted = null;
        if (Salt != SaltPosition.None)
        {
            var saltBytes = Encoding.UTF8.GetBytes(salt ?? "");
            salted = Salt == SaltPosition.Prefix ? [.. saltBytes, .. password] : [.. password, .. saltBytes];
            input = salted;
        }
        try
        {
            return _algorithm switch
            {
                Algorithm.Md5 => MD5.HashData(input, destination),
                Algorithm.Sha1 => SHA1.HashData(input, destination),
                Algorithm.Sha256 => SHA256.HashData(input, destination),
                _ => SHA512.HashData(input, destination),
            };
        }
        finally
        {
            if (salted is not null)
                CryptographicOperations.ZeroMemory(salted);
        }
    }

    private static bool VerifyBcrypt(ReadOnlySpan<byte> password, string stored, string? salt)
    {
        var text = Encoding.UTF8.GetString(password);
        try
        {
            if (stored.StartsWith("$2", StringComparison.Ordinal))
                return BCrypt.Net.BCrypt.Verify(text, stored);
            if (salt is not null && salt.StartsWith("$2", StringComparison.Ordinal))
                return FixedTimeEquals(Encoding.UTF8.GetBytes(BCrypt.Net.BCrypt.HashPassword(text, salt)), stored);
            return false;
        }
        catch (Exception ex) when (ex is BCrypt.Net.SaltParseException or ArgumentException or FormatException)
        {
            return false; // a malformed stored hash matches no password
        }
    }

    private static bool FixedTimeEquals(ReadOnlySpan<byte> password, string stored)
    {
        var storedBytes = Encoding.UTF8.GetBytes(stored);
        return CryptographicOperations.FixedTimeEquals(password, storedBytes);
    }

    private static int HexLength(string hex) => hex.Length % 2 == 0 ? hex.Length / 2 : -1;

    private static bool TryFromHex(string hex, Span<byte> destination) =>
        Convert.FromHexString(hex, destination, out _, out var written) == System.Buffers.OperationStatus.Done && written == destination.Length;
}
