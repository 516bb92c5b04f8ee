using Broker.Abstractions.Plugins;
using Broker.Configuration;

namespace Acme.Hello.Tests;

/// <summary>The options bound exactly as the broker binds them (<see cref="PluginOptions"/>), from .conf text.</summary>
public sealed class AcmeHelloOptionsTests
{
    [Fact]
    public void Parse_EmptyConf_GivesTheDocumentedDefaults()
    {
        var options = PluginOptions.Parse<AcmeHelloOptions>("");

        Assert.Equal("hello/", options.MatchPrefix);
        Assert.Equal("", options.RewritePrefix);
        Assert.Equal("greeted-by", options.UserPropertyName);
        Assert.Equal("acme_hello", options.UserPropertyValue);
    }

    [Fact]
    public void Parse_EveryKey_IsBound()
    {
        var options = PluginOptions.Parse<AcmeHelloOptions>("""
            match_prefix = in/
            rewrite_prefix = out/
            user_property.name = via
            user_property.value = me
            """);

        Assert.Equal("in/", options.MatchPrefix);
        Assert.Equal("out/", options.RewritePrefix);
        Assert.Equal("via", options.UserPropertyName);
        Assert.Equal("me", options.UserPropertyValue);
    }

    [Theory]
    [InlineData("match_prefix = \"\"", "match_prefix")]
    [InlineData("match_prefix = a/#", "match_prefix")]
    [InlineData("rewrite_prefix = b/+/", "rewrite_prefix")]
    public void Parse_InvalidValue_NamesFileLineAndKey(string line, string key)
    {
        var error = Assert.Throws<PluginConfigurationException>(
            () => PluginOptions.Parse<AcmeHelloOptions>($"# a comment\n{line}", "acme_hello.conf"));

        Assert.StartsWith($"acme_hello.conf:2: {key}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShippedConf_ShowsEveryKeyWithItsDefault()
    {
        // The commented acme_hello.conf shows every key with its default: keep it honest.
        var shipped = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "acme_hello.conf")).ReplaceLineEndings("\n");

        Assert.EndsWith(PluginOptions.DefaultConf<AcmeHelloOptions>().ReplaceLineEndings("\n"), shipped, StringComparison.Ordinal);
    }
}
