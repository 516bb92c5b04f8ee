namespace Broker.Abstractions.Configuration;

/// <summary>
/// Puts every key of an options class under a prefix, so one class of relative keys serves several sections: a
/// shared <c>SqlAuthOptions</c> declares <c>[ConfKey("server", ...)]</c>, <c>[ConfKey("pool", ...)]</c>..., and each
/// plugin binds it under its own prefix through a small subclass, <c>[ConfPrefix("auth.mysql")] sealed class
/// AuthMysqlOptions : SqlAuthOptions</c>, whose constructor sets that backend's defaults (port 3306 or 5432). The
/// keys are then <c>auth.mysql.server</c>, <c>auth.mysql.pool</c>: in the .conf, in error messages (file, line and the
/// full key), in the unknown-key check and in the rendered .conf of defaults. Since SDK 2.1.
/// </summary>
/// <remarks>
/// The prefix applies to the class's <see cref="ConfKeyAttribute"/>, <see cref="ConfListAttribute"/>,
/// <see cref="ConfMapAttribute"/> and <see cref="ConfSectionAttribute"/> keys, inherited ones included; a key of
/// <c>""</c> is the prefix itself. The keys <see cref="IValidatableOptions.Validate"/> returns are relative too
/// (<c>("auth_query", "...")</c>). The attribute is inherited, and the most derived class's prefix wins. An entry class
/// of a list or a map, and a section's class, take the entry's or section's key as their prefix and cannot carry one
/// of their own.
/// </remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = true)]
public sealed class ConfPrefixAttribute : Attribute
{
    /// <summary>Puts the class's keys under <paramref name="prefix"/>.</summary>
    /// <param name="prefix">Dotted, lower-case key prefix without the trailing dot, e.g. <c>auth.mysql</c>.</param>
    public ConfPrefixAttribute(string prefix)
    {
        Prefix = prefix;
    }

    /// <summary>The key prefix, e.g. <c>auth.mysql</c>.</summary>
    public string Prefix { get; }
}
