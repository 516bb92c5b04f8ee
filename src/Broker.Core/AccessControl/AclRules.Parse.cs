using System.Net;
using System.Text;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.AccessControl;

/// <summary>
/// Reading acl.conf: a small reader for the subset of Erlang terms EMQX 4's acl.conf uses (atoms, 'quoted atoms',
/// "strings", {tuples}, [lists], each rule ending in a full stop, <c>%</c> comments), then a pass that turns each
/// term into a rule or says, with its line, what was expected instead.
/// </summary>
internal sealed partial class AclRules
{
    private const string RuleShape = "a rule {allow|deny, Who, Access, [Topics]} or {allow|deny, all}";
    private const string WhoShape = "all, {user, \"name\"}, {client, \"id\"}, {ipaddr, \"address[/bits]\"}, {'and', [Who, ...]} or {'or', [Who, ...]}";

    /// <summary>Parses acl.conf text.</summary>
    /// <param name="text">The file's contents.</param>
    /// <param name="fileName">Named in error messages.</param>
    /// <exception cref="AccessFileException">A syntax error.</exception>
    public static AclRules Parse(string text, string fileName)
    {
        var reader = new TermReader(text, fileName);
        var rules = new List<Rule>();
        while (reader.TryReadRule(out var term))
            rules.Add(ToRule(term, fileName));
        return new AclRules([.. rules]);
    }

    private static Rule ToRule(Term term, string file)
    {
        if (term is not TupleTerm { Items: var items } || items.Length is not (2 or 4))
            throw Error(file, term, $"expected {RuleShape}, got {Describe(term)}");
        var allow = items[0] switch
        {
            AtomTerm { Name: "allow" } => true,
            AtomTerm { Name: "deny" } => false,
            var other => throw Error(file, other, $"expected allow or deny, got {Describe(other)}"),
        };
        if (items.Length == 2)
        {
            if (items[1] is not AtomTerm { Name: "all" })
                throw Error(file, items[1], $"expected all in a two-element rule {{allow|deny, all}}, got {Describe(items[1])}");
            return new Rule(allow, AllWho.Instance, AuthorizationAction.Publish | AuthorizationAction.Subscribe, null, term.Line);
        }
        var who = ToWho(items[1], file);
        var actions = items[2] switch
        {
            AtomTerm { Name: "publish" } => AuthorizationAction.Publish,
            AtomTerm { Name: "subscribe" } => AuthorizationAction.Subscribe,
            AtomTerm { Name: "pubsub" } => AuthorizationAction.Publish | AuthorizationAction.Subscribe,
            var other => throw Error(file, other, $"expected publish, subscribe or pubsub, got {Describe(other)}"),
        };
        if (items[3] is not ListTerm { Items: var topicTerms })
            throw Error(file, items[3], $"expected a list of topics [\"a/b\", {{eq, \"#\"}}, ...], got {Describe(items[3])}");
        if (topicTerms.Length == 0)
            throw Error(file, items[3], "expected at least one topic in the list, got []");
        var topics = new RuleTopic[topicTerms.Length];
        for (var i = 0; i < topicTerms.Length; i++)
            topics[i] = ToTopic(topicTerms[i], file);
        return new Rule(allow, who, actions, topics, term.Line);
    }

    private static Who ToWho(Term term, string file)
    {
        switch (term)
        {
            case AtomTerm { Name: "all" }:
                return AllWho.Instance;
            case TupleTerm { Items: [AtomTerm { Name: "user" }, var name] }:
                return new UserWho(ExpectString(name, file, "a user name"));
            case TupleTerm { Items: [AtomTerm { Name: "client" }, var id] }:
                return new ClientWho(ExpectString(id, file, "a client id"));
            case TupleTerm { Items: [AtomTerm { Name: "ipaddr" }, var cidr] }:
                var text = ExpectString(cidr, file, "an IP address or CIDR");
                if (!TryParseNetwork(text, out var network))
                    throw Error(file, cidr, $"expected an IP address or CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", got \"{text}\"");
                return new AddressWho(network);
            case TupleTerm { Items: [AtomTerm { Name: "and" or "or" } op, var list] }:
                if (list is not ListTerm { Items: { Length: > 0 } whoTerms })
                    throw Error(file, list, $"expected a non-empty list of Who after '{op.Name}', got {Describe(list)}");
                var whos = new Who[whoTerms.Length];
                for (var i = 0; i < whoTerms.Length; i++)
                    whos[i] = ToWho(whoTerms[i], file);
                return op.Name == "and" ? new AndWho(whos) : new OrWho(whos);
            default:
                throw Error(file, term, $"expected a Who: {WhoShape}; got {Describe(term)}");
        }
    }

    private static RuleTopic ToTopic(Term term, string file)
    {
        var exact = false;
        if (term is TupleTerm { Items: [AtomTerm { Name: "eq" }, var inner] })
        {
            exact = true;
            term = inner;
        }
        if (term is not StringTerm { Value: var filter })
            throw Error(file, term, $"expected a topic \"a/b/#\" or {{eq, \"topic\"}}, got {Describe(term)}");
        if (!MqttTopic.IsValidTopicFilter(filter))
            throw Error(file, term, $"\"{filter}\" is not a valid topic filter");
        var placeholder = filter.Contains("%u", StringComparison.Ordinal) || filter.Contains("%c", StringComparison.Ordinal);
        return new RuleTopic(filter, exact, placeholder);
    }

    private static string ExpectString(Term term, string file, string what) =>
        term is StringTerm { Value: var value }
            ? value
            : throw Error(file, term, $"expected {what} as a \"string\", got {Describe(term)}");

    private static bool TryParseNetwork(string text, out IPNetwork network)
    {
        network = default;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        // IPAddress.TryParse also takes "10" for 0.0.0.10 and "fe80::1%eth0"; an ACL wants the plain forms only.
        var isV6 = addressText.Contains(':', StringComparison.Ordinal);
        if (addressText.Contains('%', StringComparison.Ordinal) || (!isV6 && addressText.Count(c => c == '.') != 3)
            || !IPAddress.TryParse(addressText, out var address))
        {
            return false;
        }
        var bytes = address.GetAddressBytes();
        var maxBits = bytes.Length * 8;
        var bits = maxBits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out bits) || bits > maxBits))
        {
            return false;
        }
        // Like EMQX, "10.1.2.3/8" means 10.0.0.0/8: clear the host bits rather than reject them.
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(bits - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF00 >> keep);
        }
        network = new IPNetwork(new IPAddress(bytes), bits);
        return true;
    }

    private static AccessFileException Error(string file, Term term, string message) => new(file, term.Line, message);

    private static string Describe(Term term) => term switch
    {
        AtomTerm a => a.Name,
        StringTerm s => $"\"{s.Value}\"",
        TupleTerm t => $"a {t.Items.Length}-element tuple",
        ListTerm => "a list",
        _ => "something else",
    };

    private abstract record Term(int Line);

    private sealed record AtomTerm(string Name, int Line) : Term(Line);

    private sealed record StringTerm(string Value, int Line) : Term(Line);

    private sealed record TupleTerm(Term[] Items, int Line) : Term(Line);

    private sealed record ListTerm(Term[] Items, int Line) : Term(Line);

    /// <summary>Reads terms; recursion depth is bounded by the nesting the file writes.</summary>
    private sealed class TermReader(string text, string file)
    {
        private int _pos;
        private int _line = 1;

        public bool TryReadRule(out Term term)
        {
            SkipSpace();
            if (_pos >= text.Length)
            {
                term = null!;
                return false;
            }
            term = ReadTerm();
            SkipSpace();
            if (_pos >= text.Length || text[_pos] != '.')
                throw Fail($"expected '.' to end the rule that starts on line {term.Line}, got {Next()}");
            _pos++;
            return true;
        }

        private Term ReadTerm()
        {
            SkipSpace();
            if (_pos >= text.Length)
                throw Fail("expected a term, got the end of the file");
            var line = _line;
            var c = text[_pos];
            switch (c)
            {
                case '{':
                    _pos++;
                    return new TupleTerm(ReadItems('}'), line);
                case '[':
                    _pos++;
                    return new ListTerm(ReadItems(']'), line);
                case '"':
                    return new StringTerm(ReadQuoted('"'), line);
                case '\'':
                    return new AtomTerm(ReadQuoted('\''), line);
                case >= 'a' and <= 'z':
                    var start = _pos;
                    while (_pos < text.Length && (char.IsAsciiLetterOrDigit(text[_pos]) || text[_pos] is '_' or '@'))
                        _pos++;
                    return new AtomTerm(text[start.._pos], line);
                default:
                    throw Fail($"expected a term (atom, \"string\", {{tuple}} or [list]), got {Next()}");
            }
        }

        private Term[] ReadItems(char close)
        {
            var items = new List<Term>();
            SkipSpace();
            if (_pos < text.Length && text[_pos] == close)
            {
                _pos++;
                return [];
            }
            while (true)
            {
                items.Add(ReadTerm());
                SkipSpace();
                if (_pos < text.Length && text[_pos] == ',')
                {
                    _pos++;
                    continue;
                }
                if (_pos < text.Length && text[_pos] == close)
                {
                    _pos++;
                    return [.. items];
                }
                throw Fail($"expected ',' or '{close}', got {Next()}");
            }
        }

        private string ReadQuoted(char quote)
        {
            var startLine = _line;
            _pos++;
            var value = new StringBuilder();
            while (_pos < text.Length && text[_pos] != quote)
            {
                var c = text[_pos++];
                if (c == '\n')
                    _line++;
                if (c == '\\' && _pos < text.Length)
                {
                    c = text[_pos++] switch
                    {
                        'n' => '\n',
                        't' => '\t',
                        var escaped => escaped,
                    };
                }
                value.Append(c);
            }
            if (_pos >= text.Length)
                throw new AccessFileException(file, startLine, $"expected a closing {quote} for the {(quote == '"' ? "string" : "quoted atom")} that starts here");
            _pos++;
            return value.ToString();
        }

        private void SkipSpace()
        {
            while (_pos < text.Length)
            {
                var c = text[_pos];
                if (c == '\n')
                {
                    _line++;
                    _pos++;
                }
                else if (char.IsWhiteSpace(c))
                {
                    _pos++;
                }
                else if (c == '%')
                {
                    while (_pos < text.Length && text[_pos] != '\n')
                        _pos++;
                }
                else
                {
                    return;
                }
            }
        }

        private string Next() => _pos >= text.Length ? "the end of the file" : $"'{text[_pos]}'";

        private AccessFileException Fail(string message) => new(file, _line, message);
    }
}
