using Microsoft.Extensions.Configuration;

namespace Acme.Hello.Tests;

public sealed class AcmeHelloOptionsTests
{
    // Keys as the broker hands them over: the .conf's dotted keys with ':' separators.
    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

    [Fact]
    public void Load_EmptyConfiguration_GivesTheDocumentedDefaults()
    {
        var options = AcmeHelloOptions.Load(Configuration());

        Assert.Equal("hello/", options.MatchPrefix);
        Assert.Equal("", options.RewritePrefix);
        Assert.Equal("greeted-by", options.UserProperty.Name);
        Assert.Equal("acme_hello", options.UserProperty.Value);
    }

    [Fact]
    public void Load_ConfKeys_AreBound()
    {
        var options = AcmeHelloOptions.Load(Configuration(
            ("match_prefix", "in/"), ("rewrite_prefix", "out/"), ("user_property:name", "via"), ("user_property:value", "me")));

        Assert.Equal("in/", options.MatchPrefix);
        Assert.Equal("out/", options.RewritePrefix);
        Assert.Equal("via", options.UserProperty.Name);
        Assert.Equal("me", options.UserProperty.Value);
    }

    [Theory]
    [InlineData("match_prefix", "", "match_prefix")]
    [InlineData("match_prefix", "a/#", "match_prefix")]
    [InlineData("rewrite_prefix", "b/+/", "rewrite_prefix")]
    public void Load_InvalidValue_FailsNamingTheKey(string key, string value, string named)
    {
        var error = Assert.Throws<InvalidOperationException>(() => AcmeHelloOptions.Load(Configuration((key, value))));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_MatchTheShippedConf()
    {
        // The commented acme_hello.conf shows every default: keep it honest.
        var conf = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "acme_hello.conf"))
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('=', 2))
            .ToDictionary(kv => kv[0].Trim().Replace('.', ':'), kv => kv[1].Trim().Trim('"'));

        var fromConf = AcmeHelloOptions.Load(Configuration([.. conf.Select(kv => (kv.Key, kv.Value))]));
        var defaults = AcmeHelloOptions.Load(Configuration());

        Assert.Equal(4, conf.Count);
        Assert.Equal(defaults.MatchPrefix, fromConf.MatchPrefix);
        Assert.Equal(defaults.RewritePrefix, fromConf.RewritePrefix);
        Assert.Equal(defaults.UserProperty.Name, fromConf.UserProperty.Name);
        Assert.Equal(defaults.UserProperty.Value, fromConf.UserProperty.Value);
    }
}
