using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Broker.Core.AccessControl;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>
/// A stored password hash, parsed once when the store is loaded or changed: the broker's etc/passwd format
/// (<c>$pbkdf2-sha512$</c>), mosquitto_passwd's <c>$7$</c> (PBKDF2-HMAC-SHA512) and <c>$6$</c> (salted SHA-512), and
/// bcrypt (<c>$2a$</c>, <c>$2b$</c>, <c>$2y$</c>). Every check compares in constant time.
/// </summary>
/// <remarks>
/// mosquitto 2's <c>$7$&lt;iterations&gt;$&lt;base64 salt&gt;$&lt;base64 hash&gt;</c> is PBKDF2-HMAC-SHA512 over the password
/// with the decoded salt (12 bytes as mosquitto_passwd writes it), 64-byte hash; its older
/// <c>$6$&lt;base64 salt&gt;$&lt;base64 hash&gt;</c> is SHA-512 of the password followed by the salt (password_mosq.c).
/// </remarks>
internal abstract class StoredPassword
{
    /// <summary>The hash as stored in the file.</summary>
    public required string Encoded { get; init; }

    /// <summary>Whether checking costs milliseconds on purpose (callers keep it off the I/O threads).</summary>
    public virtual bool IsSlow => true;

    /// <summary>Whether <paramref name="password"/> is the password.</summary>
    public abstract bool Verify(ReadOnlySpan<byte> password);

    /// <summary>A new hash of <paramref name="password"/> as <paramref name="options"/> say.</summary>
    public static StoredPassword Create(string password, AuthBuiltinOptions options)
    {
        var encoded = options.PasswordHash == NewPasswordHash.Bcrypt
            ? BCrypt.Net.BCrypt.HashPassword(password, options.BcryptRounds)
            : PasswordFileHash.Create(password, options.Pbkdf2Iterations).Encoded;
        return TryParse(encoded, out var stored, out var problem) ? stored : throw new InvalidOperationException(problem);
    }

    /// <summary>Reads a stored hash; <paramref name="problem"/> says what is wrong with one that is none of the formats.</summary>
    public static bool TryParse(string encoded, out StoredPassword stored, out string problem)
    {
        stored = null!;
        problem = "";
        if (encoded.StartsWith("$" + PasswordFileHash.Scheme + "$", StringComparison.Ordinal))
        {
            if (!PasswordFileHash.TryParse(encoded, out var hash, out problem))
                return false;
            stored = new Pbkdf2Sha512(hash.Salt, hash.Hash, hash.Iterations) { Encoded = encoded };
            return true;
        }
        if (encoded.StartsWith("$7$", StringComparison.Ordinal))
            return TryParseMosquitto7(encoded, out stored, out problem);
        if (encoded.StartsWith("$6$", StringComparison.Ordinal))
            return TryParseMosquitto6(encoded, out stored, out problem);
        if (encoded is ['$', '2', 'a' or 'b' or 'y', '$', ..])
        {
            // BCrypt.Net validates the rest when it verifies; a malformed hash here would match nothing.
            if (encoded.Length != 60)
            {
                problem = $"a bcrypt hash is 60 characters, not {encoded.Length}";
                return false;
            }
            stored = new Bcrypt { Encoded = encoded };
            return true;
        }
        problem = $"not a password hash this plugin knows: expected ${PasswordFileHash.Scheme}$ (etc/passwd), $7$ or $6$ (mosquitto_passwd) or $2a$/$2b$/$2y$ (bcrypt)";
        return false;
    }

    private static bool TryParseMosquitto7(string encoded, out StoredPassword stored, out string problem)
    {
        stored = null!;
        var parts = encoded.Split('$');
        if (parts.Length != 5)
        {
            problem = "expected $7$<iterations>$<base64 salt>$<base64 hash> (mosquitto_passwd)";
            return false;
        }
        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1)
        {
            problem = $"iterations '{parts[2]}' is not a positive integer";
            return false;
        }
        if (!TryDecode(parts[3], parts[4], out var salt, out var hash, out problem))
            return false;
        stored = new Pbkdf2Sha512(salt, hash, iterations) { Encoded = encoded };
        return true;
    }

    private static bool TryParseMosquitto6(string encoded, out StoredPassword stored, out string problem)
    {
        stored = null!;
        var parts = encoded.Split('$');
        if (parts.Length != 4)
        {
            problem = "expected $6$<base64 salt>$<base64 hash> (mosquitto_passwd -H sha512)";
            return false;
        }
        if (!TryDecode(parts[2], parts[3], out var salt, out var hash, out problem))
            return false;
        stored = new SaltedSha512(salt, hash) { Encoded = encoded };
        return true;
    }

    private static bool TryDecode(string saltText, string hashText, out byte[] salt, out byte[] hash, out string problem)
    {
        salt = hash = [];
        try
        {
            salt = Convert.FromBase64String(saltText);
            hash = Convert.FromBase64String(hashText);
        }
        catch (FormatException)
        {
            problem = "salt or hash is not valid base64";
            return false;
        }
        problem = salt.Length == 0 ? "the salt is empty"
            : hash.Length != SHA512.HashSizeInBytes ? $"the hash is {hash.Length} bytes, SHA-512's are {SHA512.HashSizeInBytes}"
            : "";
        return problem.Length == 0;
    }

    /// <summary>PBKDF2-HMAC-SHA512: etc/passwd's <c>$pbkdf2-sha512$</c> and mosquitto's <c>$7$</c>.</summary>
    private sealed class Pbkdf2Sha512(byte[] salt, byte[] hash, int iterations) : StoredPassword
    {
        public override bool Verify(ReadOnlySpan<byte> password)
        {
            Span<byte> computed = stackalloc byte[hash.Length];
            Rfc2898DeriveBytes.Pbkdf2(password, salt, computed, iterations, HashAlgorithmName.SHA512);
            return CryptographicOperations.FixedTimeEquals(computed, hash);
        }
    }

    /// <summary>mosquitto's <c>$6$</c>: SHA-512 of the password followed by the salt.</summary>
    private sealed class SaltedSha512(byte[] salt, byte[] hash) : StoredPassword
    {
        public override bool IsSlow => false;

        public override bool Verify(ReadOnlySpan<byte> password)
        {
            var input = new byte[password.Length + salt.Length];
            password.CopyTo(input);
            salt.CopyTo(input.AsSpan(password.Length));
            Span<byte> computed = stackalloc byte[SHA512.HashSizeInBytes];
            SHA512.HashData(input, computed);
            CryptographicOperations.ZeroMemory(input);
            return CryptographicOperations.FixedTimeEquals(computed, hash);
        }
    }

    /// <summary>bcrypt; BCrypt.Net compares the hashes in constant time.</summary>
    private sealed class Bcrypt : StoredPassword
    {
        public override bool Verify(ReadOnlySpan<byte> password)
        {
            try
            {
                return BCrypt.Net.BCrypt.Verify(Encoding.UTF8.GetString(password), Encoded);
            }
            catch (Exception ex) when (ex is BCrypt.Net.SaltParseException or ArgumentException or FormatException)
            {
                return false; // a malformed stored hash matches no password
            }
        }
    }
}
