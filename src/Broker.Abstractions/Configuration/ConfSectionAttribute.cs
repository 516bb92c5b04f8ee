namespace Broker.Abstractions.Configuration;

/// <summary>
/// Binds a property whose type is itself an options class to the keys under a section of the .conf file, so a group
/// of keys several plugins share is written once: with <c>[ConfSection("ssl")] public BackendTlsOptions Ssl { get; } =
/// new();</c> in a class whose keys are under <c>auth.redis</c>, the section class's <c>[ConfKey("cacertfile", ...)]</c>
/// is <c>auth.redis.ssl.cacertfile</c>, and one with the empty key is the section's own value (the switch
/// <c>auth.redis.ssl = on</c>). The keys are the full ones everywhere: in error messages (file, line and
/// <c>auth.redis.ssl.verify</c>), in the unknown-key check (<c>auth.redis.ssl.verfy</c> is unknown) and in the rendered
/// .conf of defaults, where they stand at the property's place among the parent's keys. The empty key is an unnamed
/// section: its keys stand at the parent's own level (<c>[ConfSection("")]</c> in a class prefixed <c>auth.mysql</c>
/// binds the section class's <c>pool</c> as <c>auth.mysql.pool</c>), for keys that plugins share under the same names.
/// Since SDK 2.1.
/// </summary>
/// <remarks>
/// The section object is the property's initial value, bound in place: the parent's initialiser or constructor may
/// set its defaults, and it must not be null. Its class's keys may carry Unit, Min and Max as anywhere; one that is
/// <see cref="IValidatableOptions"/> is validated with keys relative to the section (<c>("certfile", "...")</c>). A
/// section class may hold [ConfKey]s and further sections; it has no [ConfPrefix], [ConfList] or [ConfMap] of its
/// own. A subclass may add keys (inherited ones come first, the empty key before all) and may override a virtual
/// property with its own [ConfKey] to word a shared key for its plugin.
/// </remarks>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
public sealed class ConfSectionAttribute : Attribute
{
    /// <summary>Binds the property's object to the keys under <paramref name="key"/>.</summary>
    /// <param name="key">Dotted, lower-case key of the section, relative as the class's other keys, e.g. <c>ssl</c>; empty for an unnamed section.</param>
    public ConfSectionAttribute(string key)
    {
        Key = key;
    }

    /// <summary>The section's key, e.g. <c>ssl</c>.</summary>
    public string Key { get; }
}
