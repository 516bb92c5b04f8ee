using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Broker.Core.AccessControl;

/// <summary>
/// One hash of the broker's password file, <c>$pbkdf2-sha512$&lt;iterations&gt;$&lt;base64 salt&gt;$&lt;base64 hash&gt;</c>:
/// PBKDF2 with HMAC-SHA-512 and a 16-byte random salt.
/// </summary>
/// <remarks>
/// The one definition of the format: <c>PasswordFile</c> reads and writes it, and plugins/auth_builtin and
/// plugins/dashboard compile this same file (a plugin cannot reference Broker.Core), so a user moved between
/// etc/passwd and the plugin's database keeps their password.
/// </remarks>
internal sealed class PasswordFileHash
{
    /// <summary>The scheme between the first two <c>$</c>.</summary>
    public const string Scheme = "pbkdf2-sha512";

    private const int SaltSize = 16;
    private const int HashSize = 64;
    private const int MinHashSize = 16;

    private PasswordFileHash(int iterations, byte[] salt, byte[] hash)
    {
        Iterations = iterations;
        Salt = salt;
        Hash = hash;
    }

    public int Iterations { get; }

    public byte[] Salt { get; }

    public byte[] Hash { get; }

    /// <summary>The hash as the file stores it.</summary>
    public string Encoded => $"${Scheme}${Iterations.ToString(CultureInfo.InvariantCulture)}${Convert.ToBase64String(Salt)}${Convert.ToBase64String(Hash)}";

    /// <summary>A new hash of <paramref name="password"/> with a fresh random salt.</summary>
    public static PasswordFileHash Create(string password, int iterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        return new PasswordFileHash(iterations, salt, Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA512, HashSize));
    }

    /// <summary>Whether <paramref name="password"/> is the one hashed; compared in constant time.</summary>
    public bool Matches(string password) => CryptographicOperations.FixedTimeEquals(
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Salt, Iterations, HashAlgorithmName.SHA512, Hash.Length), Hash);

    /// <summary>Reads a hash in the file's format; <paramref name="problem"/> says what is wrong with one that is not.</summary>
    public static bool TryParse(string text, out PasswordFileHash hash, out string problem)
    {
        hash = null!;
        var parts = text.Split('$');
        if (parts.Length != 5 || parts[0].Length != 0)
        {
            problem = $"expected ${Scheme}$<iterations>$<base64 salt>$<base64 hash>";
            return false;
        }
        if (parts[1] != Scheme)
        {
            problem = $"unknown scheme '{parts[1]}' (expected {Scheme})";
            return false;
        }
        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1)
        {
            problem = $"iterations '{parts[2]}' is not a positive integer";
            return false;
        }
        byte[] salt, derived;
        try
        {
            salt = Convert.FromBase64String(parts[3]);
            derived = Convert.FromBase64String(parts[4]);
        }
        catch (FormatException)
        {
            problem = "salt or hash is not valid base64";
            return false;
        }
        if (salt.Length == 0)
        {
            problem = "the salt is empty";
            return false;
        }
        if (derived.Length is < MinHashSize or > HashSize)
        {
            problem = $"the hash is {derived.Length} bytes (expected {MinHashSize} to {HashSize})";
            return false;
        }
        hash = new PasswordFileHash(iterations, salt, derived);
        problem = "";
        return true;
    }
}
