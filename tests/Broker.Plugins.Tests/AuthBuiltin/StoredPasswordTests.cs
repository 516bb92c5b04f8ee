using System.Text;
using Broker.Plugins.AuthBuiltin;

namespace Broker.Plugins.Tests.AuthBuiltin;

/// <summary>The hashes auth_builtin verifies: mosquitto_passwd's, etc/passwd's, bcrypt; the ones it makes.</summary>
public sealed class StoredPasswordTests
{
    // Written by Debian's mosquitto_passwd 2.0.11 (`mosquitto_passwd -c -b pw alice secret-7`, then `-H sha512 -b pw bob
    // secret-6`); the end-to-end tests also run the tool itself.
    private const string Mosquitto7 = "$7$101$WONwZllc96KmCBrQ$kJoILNk0TMQuVlrt6BmHhMzLzOpHj0ap9eBwGTqLLWtDEEXXyMKDw9fkdrve6k48+1fws/tvTezaA4udSjNv4g==";
    private const string Mosquitto6 = "$6$xBTa//ySMX5HKUDN$8dNnY/9k9gWJSWjrmOseIjxcy78Y4dgTD17T1p50E49tANuVZQtr9BAUla0njL0XIJ/Pdc5u/oU4MAftP3pHeA==";

    private static bool Verify(string encoded, string password)
    {
        Assert.True(StoredPassword.TryParse(encoded, out var stored, out var problem), problem);
        return stored.Verify(Encoding.UTF8.GetBytes(password));
    }

    [Fact]
    public void Mosquitto7_FromMosquittoPasswd_VerifiesOnlyItsPassword()
    {
        Assert.True(Verify(Mosquitto7, "secret-7"));
        Assert.False(Verify(Mosquitto7, "secret-8"));
        Assert.False(Verify(Mosquitto7, ""));
    }

    [Fact]
    public void Mosquitto6_FromMosquittoPasswd_VerifiesOnlyItsPassword()
    {
        Assert.True(Verify(Mosquitto6, "secret-6"));
        Assert.False(Verify(Mosquitto6, "secret-7"));
    }

    [Theory]
    [InlineData("Pbkdf2", "$pbkdf2-sha512$7$")]
    [InlineData("Bcrypt", "$2a$04$")]
    public void Create_ConfiguredHash_VerifiesOnlyItsPassword(string hash, string prefix)
    {
        var options = new AuthBuiltinOptions { PasswordHash = Enum.Parse<NewPasswordHash>(hash), Pbkdf2Iterations = 7, BcryptRounds = 4 };
        var stored = StoredPassword.Create("pässword", options);
        Assert.StartsWith(prefix, stored.Encoded, StringComparison.Ordinal);
        Assert.True(Verify(stored.Encoded, "pässword"));
        Assert.False(Verify(stored.Encoded, "password"));
    }

    [Theory]
    [InlineData("plain", "not a password hash")]
    [InlineData("$7$0$AAAA$AAAA", "iterations '0'")]
    [InlineData("$7$101$AAAA", "expected $7$")]
    [InlineData("$7$101$!!!!$AAAA", "base64")]
    [InlineData("$7$101$AAAA$AAAA", "the hash is 3 bytes")]
    [InlineData("$6$AAAA", "expected $6$")]
    [InlineData("$pbkdf2-sha512$1000$AAAA", "expected $pbkdf2-sha512$")]
    [InlineData("$2b$10$short", "60 characters")]
    public void TryParse_Malformed_SaysWhy(string encoded, string why)
    {
        Assert.False(StoredPassword.TryParse(encoded, out _, out var problem));
        Assert.Contains(why, problem, StringComparison.Ordinal);
    }
}
