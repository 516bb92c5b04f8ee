using Xunit;

namespace Broker.Ctl.Tests;

/// <summary>Where ctl looks for the API and its credentials, in order: flags, BROKER_CTL_*, the broker home.</summary>
public sealed class CtlConnectionTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("ctl-home-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private void WriteConf(string text)
    {
        Directory.CreateDirectory(Path.Combine(_home, "etc"));
        File.WriteAllText(Path.Combine(_home, "etc", "broker.conf"), text);
    }

    private void WriteSecretFile(string secret)
    {
        Directory.CreateDirectory(Path.Combine(_home, "data"));
        File.WriteAllText(Path.Combine(_home, "data", "management.secret"), secret + "\n");
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] values) =>
        key => values.FirstOrDefault(v => v.Key == key).Value;

    [Theory]
    [InlineData("8081", "http://127.0.0.1:8081")]
    [InlineData("127.0.0.1:8081", "http://127.0.0.1:8081")]
    [InlineData("0.0.0.0:9000", "http://127.0.0.1:9000")]
    [InlineData("[::]:9000", "http://[::1]:9000")]
    [InlineData("[::1]:9000", "http://[::1]:9000")]
    [InlineData("10.1.2.3:8081", "http://10.1.2.3:8081")]
    public void UrlOf_ListenerSetting_IsAnAddressToConnectTo(string listener, string url) =>
        Assert.Equal(url, CtlConnection.UrlOf(listener));

    [Fact]
    public void Resolve_NothingConfigured_DefaultsToLoopback8081AndAdmin()
    {
        var connection = CtlConnection.Resolve(_home, null, null, null, Env());
        Assert.Equal("http://127.0.0.1:8081", connection.Display);
        Assert.Equal("admin", connection.User);
        Assert.Null(connection.Secret);
    }

    [Fact]
    public void Resolve_BrokerConf_GivesAddressIdAndSecret()
    {
        WriteConf("""
            ## header
            # management.listener = 1.2.3.4:1
            management.listener = 127.0.0.1:18081
            management.default_application.id = ops
            management.default_application.secret = "from conf 123"
            """);
        WriteSecretFile("from-file");
        var connection = CtlConnection.Resolve(_home, null, null, null, Env());
        Assert.Equal("http://127.0.0.1:18081", connection.Display);
        Assert.Equal("ops", connection.User);
        Assert.Equal("from conf 123", connection.Secret);
    }

    [Fact]
    public void Resolve_NoSecretConfigured_ReadsTheGeneratedFile()
    {
        WriteConf("management.listener = 127.0.0.1:18081\n");
        WriteSecretFile("generated-secret");
        Assert.Equal("generated-secret", CtlConnection.Resolve(_home, null, null, null, Env()).Secret);
    }

    [Fact]
    public void Resolve_BrokerEnvironmentOverrides_WinOverTheFile_AsForTheBroker()
    {
        WriteConf("management.listener = 127.0.0.1:18081\n");
        var connection = CtlConnection.Resolve(_home, null, null, null, Env(("BROKER_MANAGEMENT__LISTENER", "127.0.0.1:28081")));
        Assert.Equal("http://127.0.0.1:28081", connection.Display);
    }

    [Fact]
    public void Resolve_FlagsBeatCtlEnvironmentBeatsHome()
    {
        WriteConf("management.listener = 127.0.0.1:18081\n");
        WriteSecretFile("file");
        var env = Env(("BROKER_CTL_URL", "http://127.0.0.1:3"), ("BROKER_CTL_USER", "envuser"), ("BROKER_CTL_SECRET", "envsecret"));
        var fromEnv = CtlConnection.Resolve(_home, null, null, null, env);
        Assert.Equal(("http://127.0.0.1:3", "envuser", "envsecret"), (fromEnv.Display, fromEnv.User, fromEnv.Secret));
        var fromFlags = CtlConnection.Resolve(_home, "127.0.0.1:4", "flaguser", "flagsecret", env);
        Assert.Equal(("http://127.0.0.1:4", "flaguser", "flagsecret"), (fromFlags.Display, fromFlags.User, fromFlags.Secret));
    }

    [Fact]
    public void Resolve_HomeFromBrokerHomeVariable_EmptyMeansUnset()
    {
        WriteConf("management.listener = 127.0.0.1:18081\n");
        var connection = CtlConnection.Resolve(null, null, null, null, Env(("BROKER_HOME", _home), ("BROKER_CTL_URL", "")));
        Assert.Equal("http://127.0.0.1:18081", connection.Display);
    }

    [Theory]
    [InlineData("ftp://x:1")]
    [InlineData("localhost")]
    public void Resolve_BadUrl_IsACtlError(string url) =>
        Assert.Throws<CtlException>(() => CtlConnection.Resolve(_home, url, "u", "s", Env()));
}
