namespace Broker.Plugins.AuthBuiltin;

/// <summary>How new passwords are hashed (<c>auth.builtin.password_hash</c>).</summary>
internal enum NewPasswordHash
{
    /// <summary>PBKDF2-HMAC-SHA512, the format of the broker's etc/passwd.</summary>
    Pbkdf2,
    /// <summary>bcrypt (<c>$2b$</c>).</summary>
    Bcrypt,
}

/// <summary>etc/plugins/auth_builtin.conf.</summary>
internal sealed class AuthBuiltinOptions
{
    [ConfKey("auth.builtin.password_hash", "How passwords set through the API or ctl are hashed: pbkdf2 (PBKDF2-HMAC-SHA512 as in etc/passwd: $pbkdf2-sha512$<iterations>$<salt>$<hash>) or bcrypt. Stored hashes keep working whatever this says: etc/passwd's, bcrypt's and mosquitto_passwd's $7$ and $6$ are all verified.")]
    public NewPasswordHash PasswordHash { get; set; } = NewPasswordHash.Pbkdf2;

    [ConfKey("auth.builtin.pbkdf2_iterations", "PBKDF2 iterations for new pbkdf2 hashes (the broker's password_hash_iterations default; mosquitto_passwd uses 101).", Min = "1")]
    public int Pbkdf2Iterations { get; set; } = 1000;

    [ConfKey("auth.builtin.bcrypt_rounds", "The bcrypt cost (log2 of the rounds) for new bcrypt hashes.", Min = "4", Max = "31")]
    public int BcryptRounds { get; set; } = 10;
}
