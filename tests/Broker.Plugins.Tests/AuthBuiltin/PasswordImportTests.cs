using Broker.Plugins.AuthBuiltin;

namespace Broker.Plugins.Tests.AuthBuiltin;

public sealed class PasswordImportTests
{
    private const string Mosquitto7 = "$7$101$WONwZllc96KmCBrQ$kJoILNk0TMQuVlrt6BmHhMzLzOpHj0ap9eBwGTqLLWtDEEXXyMKDw9fkdrve6k48+1fws/tvTezaA4udSjNv4g==";
    private const string Passwd = "$pbkdf2-sha512$1000$c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==";

    [Fact]
    public void TryParse_SkipsCommentsAndBlankLines_KeepsHashes()
    {
        Assert.True(PasswordImport.TryParse($"# users\n\nalice:{Mosquitto7}\r\nbob:{Passwd}\n", ImportFormat.Auto, out var users, out var problem), problem);
        Assert.Equal(["alice", "bob"], users.Select(u => u.Login));
        Assert.Equal(Mosquitto7, users[0].Password.Encoded);
        Assert.All(users, u => Assert.False(u.IsSuperuser));
    }

    [Theory]
    [InlineData("alice\n", "auto", "line 1: expected user:hash")]
    [InlineData("# x\nalice:plain\n", "auto", "line 2 (alice): not a password hash")]
    [InlineData("alice:" + Passwd + "\n", "mosquitto", "line 1 (alice): not a mosquitto_passwd")]
    [InlineData("alice:" + Mosquitto7 + "\n", "passwd", "line 1 (alice): not a etc/passwd")]
    [InlineData("alice:" + Mosquitto7 + "\nalice:" + Mosquitto7 + "\n", "auto", "line 2: user 'alice' is already on line 1")]
    public void TryParse_BadLine_NamesIt(string content, string format, string expected)
    {
        Assert.True(PasswordImport.TryParseFormat(format, out var kind));
        Assert.False(PasswordImport.TryParse(content, kind, out _, out var problem));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }
}
