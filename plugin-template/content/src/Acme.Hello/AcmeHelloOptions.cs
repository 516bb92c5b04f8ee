using Microsoft.Extensions.Configuration;

namespace Acme.Hello;

/// <summary>
/// The settings of acme_hello, bound from <c>etc/plugins/acme_hello.conf</c> (and <c>BROKER_PLUGINS__ACME_HELLO__*</c>
/// environment overrides). Every default is written here and in the commented <c>acme_hello.conf</c>: keep them equal.
/// </summary>
internal sealed class AcmeHelloOptions
{
    /// <summary>The plugin acts on messages whose topic starts with this prefix.</summary>
    /// <remarks>Key <c>match_prefix</c>; default <c>hello/</c>. Not empty, no <c>+</c> or <c>#</c>.</remarks>
    [ConfigurationKeyName("match_prefix")]
    public string MatchPrefix { get; set; } = "hello/";

    /// <summary>When not empty, replaces the matched prefix before the message is routed.</summary>
    /// <remarks>Key <c>rewrite_prefix</c>; default empty (topics are left alone). No <c>+</c> or <c>#</c>.</remarks>
    [ConfigurationKeyName("rewrite_prefix")]
    public string RewritePrefix { get; set; } = "";

    /// <summary>The MQTT 5 user property added to every matching message.</summary>
    [ConfigurationKeyName("user_property")]
    public UserPropertyOptions UserProperty { get; set; } = new();

    /// <summary>Reads the options from the plugin's configuration and validates them.</summary>
    /// <param name="configuration">The plugin's configuration (<c>IPluginContext.Configuration</c>).</param>
    /// <exception cref="InvalidOperationException">A value is invalid; the message names the key.</exception>
    public static AcmeHelloOptions Load(IConfiguration configuration)
    {
        var options = new AcmeHelloOptions();
        configuration.Bind(options);
        options.Validate();
        return options;
    }

    /// <summary>Fails fast at start, naming the key, rather than misbehaving on the first message.</summary>
    public void Validate()
    {
        if (MatchPrefix.Length == 0)
            throw new InvalidOperationException("match_prefix must not be empty");
        if (MatchPrefix.AsSpan().IndexOfAny('+', '#') >= 0)
            throw new InvalidOperationException($"match_prefix \"{MatchPrefix}\" must not contain + or #");
        if (RewritePrefix.AsSpan().IndexOfAny('+', '#') >= 0)
            throw new InvalidOperationException($"rewrite_prefix \"{RewritePrefix}\" must not contain + or #");
    }
}

/// <summary>The <c>user_property.*</c> keys.</summary>
internal sealed class UserPropertyOptions
{
    /// <summary>The property's name; empty adds none.</summary>
    /// <remarks>Key <c>user_property.name</c>; default <c>greeted-by</c>.</remarks>
    public string Name { get; set; } = "greeted-by";

    /// <summary>The property's value.</summary>
    /// <remarks>Key <c>user_property.value</c>; default <c>acme_hello</c>.</remarks>
    public string Value { get; set; } = "acme_hello";
}
