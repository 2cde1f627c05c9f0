//! The injection pattern table.
//!
//! Every pattern is a regex over the normalized view (lowercase, accents dropped, obfuscation undone;
//! see [`super::normalize`]), so it is written in lowercase ASCII where the language allows. Each has
//! a category and a weight in `0..=1`: how sure one match alone makes us that the text is an attack.
//! Anchors (literals the prefilter looks for) are taken from the regex's own literal prefixes unless
//! listed explicitly.

/// What an injection finding is about. Every finding names its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// "Ignore previous instructions", in many languages.
    InstructionOverride,
    /// Fake `system:` / `assistant:` turns and chat-template tokens.
    RoleImpersonation,
    /// DAN, developer mode, "no restrictions", "you are now".
    Jailbreak,
    /// Attempts to read the system prompt or hidden instructions.
    PromptExtraction,
    /// Sending keys, passwords or the conversation somewhere.
    Exfiltration,
    /// Instructions to run commands or call tools.
    ToolHijack,
    /// "Pre-approved", "authorized by the admin", "safe mode off".
    AuthoritySpoofing,
    /// Closing a quote, code block or tag and starting new instructions.
    DelimiterBreaking,
    /// Poisoned tool descriptions: `<IMPORTANT>`, "do not tell the user", reading ~/.ssh.
    ToolPoisoning,
    /// Instructions addressed to an AI inside content a human does not see.
    HiddenInstructions,
    /// Encoded text with "decode and follow", or an attack found inside a decoded layer.
    EncodedPayload,
    /// Invisible characters, homoglyphs, spaced letters: hiding text from filters.
    Obfuscation,
    /// Redirecting the task: "respond only with", "add this link to your answer".
    GoalHijack,
}

impl Category {
    /// Every category, in the order of the model's rule features.
    pub const ALL: [Category; 13] = [
        Category::InstructionOverride,
        Category::RoleImpersonation,
        Category::Jailbreak,
        Category::PromptExtraction,
        Category::Exfiltration,
        Category::ToolHijack,
        Category::AuthoritySpoofing,
        Category::DelimiterBreaking,
        Category::ToolPoisoning,
        Category::HiddenInstructions,
        Category::EncodedPayload,
        Category::Obfuscation,
        Category::GoalHijack,
    ];

    /// The stable name used in findings and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::InstructionOverride => "instruction-override",
            Category::RoleImpersonation => "role-impersonation",
            Category::Jailbreak => "jailbreak",
            Category::PromptExtraction => "prompt-extraction",
            Category::Exfiltration => "exfiltration",
            Category::ToolHijack => "tool-hijack",
            Category::AuthoritySpoofing => "authority-spoofing",
            Category::DelimiterBreaking => "delimiter-breaking",
            Category::ToolPoisoning => "tool-poisoning",
            Category::HiddenInstructions => "hidden-instructions",
            Category::EncodedPayload => "encoded-payload",
            Category::Obfuscation => "obfuscation",
            Category::GoalHijack => "goal-hijack",
        }
    }

    /// Index in [`Category::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One pattern.
pub struct Pattern {
    /// Stable id, e.g. `ignore-previous-instructions`.
    pub id: &'static str,
    /// What it is about.
    pub category: Category,
    /// How sure one match makes us, `0..=1`.
    pub weight: f32,
    /// Literals the prefilter looks for; empty means "the regex's literal prefixes".
    pub anchors: &'static [&'static str],
    /// The regex, over the normalized view.
    pub regex: &'static str,
    /// What it finds, for humans.
    pub description: &'static str,
}

use Category::*;

/// Patterns whose anchors are given (not the regex's own prefixes) and still mark where every
/// match begins, so one anchored search at each anchor replaces a search of the text around it.
/// `close-then-instruct` begins at its closer; its anchors spell out the whitespace the view can
/// hold between a quote or bracket and the brace (runs of spaces are one space there).
pub const STARTS_AT_ANCHORS: &[&str] = &["close-then-instruct"];

/// The pattern table.
pub fn patterns() -> Vec<Pattern> {
    vec![
        // ---------------------------------------------------------------- instruction override
        Pattern {
            id: "ignore-previous-instructions",
            category: InstructionOverride,
            weight: 0.95,
            anchors: &[],
            regex: concat!(
                r"\b(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|discard(?:ing)?|neglect|abandon|skip|drop|set\s+aside|throw\s+out|do not follow|don'?t\s+follow|stop\s+following|pay\s+no\s+attention\s+to)\s+",
                r"(?:(?:all|any|every|each|the|your|my|of|these|those|that|this|everything|what\s+(?:was|you\s+were)\s+(?:said|told))\s+)*",
                r"(?:previous|prior|above|earlier|preceding|former|initial|original|foregoing|old|past|system|developer|given|existing|default|last|other)\s+",
                r"(?:\w+\s+){0,2}(?:instructions?|prompts?|directions?|directives?|rules?|guidelines?|commands?|context|messages?|inputs?|text|constraints?|restrictions?|orders?|programming|guidance|conversation|content|policies|policy|tasks?|training)"
            ),
            description: "an order to ignore the instructions that came before",
        },
        Pattern {
            id: "ignore-the-image",
            category: InstructionOverride,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:ignore|disregard)\s+(?:the\s+|this\s+|that\s+|any\s+)?(?:image|picture|photo|qr\s*code|barcode|screenshot)s?\b",
            description: "an order, hidden in an image, to disregard what the image shows",
        },
        Pattern {
            id: "ignore-your-instructions",
            category: InstructionOverride,
            weight: 0.7,
            anchors: &[],
            regex: concat!(
                r"\b(?:ignor(?:e|ing)|disregard|forget|override|bypass|discard)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:your|the|these|those|my)\s+",
                r"(?:instructions|directives|guidelines|rules|programming|constraints|restrictions|safety\s+\w+|ethical\s+\w+|content\s+polic(?:y|ies))\b"
            ),
            description: "an order to ignore the model's instructions or rules",
        },
        Pattern {
            id: "ignore-instructions-above",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignor(?:e|ing)|disregard(?:ing)?|forget|overrid(?:e|ing)|bypass|discard)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|these\s+|those\s+|my\s+)?(?:\w+\s+)?(?:instructions?|directions?|directives?|prompts?|rules|guidelines|commands?|orders)\s+(?:above|before|so\s+far|previously|given\s+(?:above|before|earlier)|you\s+(?:were|have\s+been)\s+given)\b",
            description: "an order to ignore the instructions given above",
        },
        Pattern {
            id: "instructions-void",
            category: InstructionOverride,
            weight: 0.8,
            anchors: &[
                "previous",
                "prior",
                "above",
                "earlier",
                "original",
                "old",
                "out of date",
            ],
            regex: r"\b(?:previous|prior|above|earlier|original|old|out\s+of\s+date|outdated)\s*(?:instructions?|directions?|rules|prompts?|guidelines|directives?)\s+(?:are|were|is|have\s+been|has\s+been)\s+(?:now\s+)?(?:false|void|invalid|cancel+ed|revoked|obsolete|null|wrong|fake|no\s+longer\s+(?:valid|apply|relevant|in\s+effect)|overridden|superseded|replaced|deprecated)\b",
            description: "a claim that the earlier instructions no longer hold",
        },
        Pattern {
            id: "reprogramming",
            category: InstructionOverride,
            weight: 0.6,
            anchors: &[],
            regex: r"\b(?:begin|start|initiat(?:e|ing)|commenc(?:e|ing))\s+(?:re-?programming|re-?configuration|re-?training|override\s+sequence)\b|\bnew\s+instructions?\s+(?:to|for)\s+(?:the\s+)?(?:chat\s+)?(?:assistant|ai|model|bot|llm|agent)\b|\byou\s+have\s+been\s+(?:given\s+a\s+)?(?:system\s+)?(?:upgrade|upgraded|reprogrammed|updated\s+with\s+new\s+instructions)\b",
            description: "a claim to reprogram the model",
        },
        Pattern {
            id: "forget-everything",
            category: InstructionOverride,
            weight: 0.75,
            anchors: &[],
            regex: r"\b(?:forget|ignore|disregard|erase)\s+(?:about\s+)?(?:everything|all\s+(?:that|of\s+(?:that|this|it)|you\s+(?:know|were\s+told|have\s+been\s+told)|previous|above)|what\s+you\s+were\s+told|the\s+above|above|all\s+of\s+the\s+above)",
            description: "an order to forget what came before",
        },
        Pattern {
            id: "new-instructions",
            category: InstructionOverride,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:new|updated|revised|real|actual|true|additional|important|urgent|secret|hidden|override|priority)\s+(?:system\s+)?(?:instructions?|directives?|orders?|task|rules?)\s*(?::|-|are\s+(?:as\s+follows|below)|follow|take\s+(?:precedence|priority))",
            description: "a heading that announces replacement instructions",
        },
        Pattern {
            id: "instead-do",
            category: InstructionOverride,
            weight: 0.35,
            anchors: &[],
            regex: r"\binstead\s*,?\s+(?:you\s+(?:must|should|will|need\s+to)|just\s+|only\s+)?(?:do|respond|reply|say|write|output|print|answer|tell|send|return)\b",
            description: "an order to do something else instead",
        },
        Pattern {
            id: "from-now-on",
            category: InstructionOverride,
            weight: 0.25,
            anchors: &[],
            regex: r"\b(?:from\s+now\s+on|from\s+this\s+point\s+(?:on|forward)|henceforth|for\s+the\s+rest\s+of\s+(?:this|the|our)\s+(?:conversation|chat|session))\b",
            description: "a standing order for the rest of the conversation",
        },
        Pattern {
            id: "override-es",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignora|ignore|ignorar|olvida|olvidate\s+de|omite|descarta|no sigas)\s+(?:todas?\s+|todo\s+)?(?:las\s+|tus\s+|sus\s+|lo\s+)?(?:instrucciones|indicaciones|reglas|ordenes|directrices|anterior)",
            description: "instruction override in Spanish",
        },
        Pattern {
            id: "override-fr",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignore[zr]?|oublie[zr]?|ne tiens pas\s+compte\s+d)\s*(?:toutes\s+|tout\s+)?(?:les\s+|tes\s+|vos\s+|ce\s+qui\s+precede)?(?:instructions|consignes|directives|regles|ordres|indications)?(?:\s+(?:precedentes|anterieures|ci-dessus))",
            description: "instruction override in French",
        },
        Pattern {
            id: "override-de",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte|missachten\s+sie)\s+(?:alle\s+|alles\s+)?(?:deine\s+|ihre\s+|die\s+)?(?:vorherigen\s+|bisherigen\s+|obigen\s+|vorigen\s+|fruheren\s+)?(?:anweisungen|instruktionen|regeln|befehle|vorgaben|was\s+(?:vorher|bisher|zuvor))",
            description: "instruction override in German",
        },
        Pattern {
            id: "override-it",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignora|ignorate|dimentica|dimenticate|trascura)\s+(?:tutte\s+|tutto\s+)?(?:le\s+|tue\s+)?(?:istruzioni|regole|indicazioni|direttive|quanto\s+detto)(?:\s+precedenti)?",
            description: "instruction override in Italian",
        },
        Pattern {
            id: "override-pt",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"\b(?:ignore|ignora|esqueca|esqueça|desconsidere|descarte)\s+(?:todas\s+|tudo\s+)?(?:as\s+|suas\s+)?(?:instrucoes|regras|orientacoes|diretrizes|ordens)(?:\s+anteriores)?",
            description: "instruction override in Portuguese",
        },
        Pattern {
            id: "override-ru",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"(?:игнорируй|игнорируйте|проигнорируй|забудь|забудьте|не\s+обращай\s+внимания\s+на)\s+(?:все\s+|bce\s+|всё\s+)?(?:предыдущие\s+|прежние\s+|прошлые\s+|свои\s+)?(?:инструкции|указания|правила|команды|что)",
            description: "instruction override in Russian",
        },
        Pattern {
            id: "override-zh",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"(?:忽略|无视|忽视|無視|不要理会|不要理會|忘记|忘記|忘掉)(?:掉)?(?:你)?(?:之前|以前|上面|前面|先前|此前|所有|全部|以上|上述)(?:的)?(?:所有|全部)?(?:的)?(?:指令|指示|说明|說明|规则|規則|提示|命令|要求|内容)",
            description: "instruction override in Chinese",
        },
        Pattern {
            id: "override-ja",
            category: InstructionOverride,
            weight: 0.9,
            anchors: &[],
            regex: r"(?:以前|前|上記|これまで|先ほど|すべて|全て)の(?:すべての)?(?:指示|命令|指令|ルール|プロンプト)(?:を|は)(?:無視|忘れ)",
            description: "instruction override in Japanese",
        },
        // ---------------------------------------------------------------- role impersonation
        Pattern {
            id: "chat-template-token",
            category: RoleImpersonation,
            weight: 0.9,
            anchors: &["<|"],
            regex: r"<\|\s*(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|tool|ipython|end|channel|message|start|return|constrain)\s*\|>",
            description: "a chat-template control token (ChatML, Llama 3, Harmony)",
        },
        Pattern {
            id: "inst-sys-tags",
            category: RoleImpersonation,
            weight: 0.85,
            anchors: &[
                "[inst]",
                "[/inst]",
                "<<sys>>",
                "<</sys>>",
                "<start_of_turn>",
                "<end_of_turn>",
                "[system]",
            ],
            regex: r"\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>|\[system\]",
            description: "Llama 2 or Gemma turn markers",
        },
        Pattern {
            id: "system-heading",
            category: RoleImpersonation,
            weight: 0.7,
            anchors: &["system", "admin"],
            regex: r"(?m)^[ \t]*(?:#{1,6}|\*\*|==+|--+|\[)[ \t]*(?:new\s+)?(?:system|admin|administrator)(?:\s+(?:prompt|message|override|instructions?|update|notice|note|alert))?[ \t]*(?:\]|\*\*|==+|--+|:)?[ \t]*$",
            description: "a markdown heading or banner claiming to be the system",
        },
        Pattern {
            id: "role-prefix-line",
            category: RoleImpersonation,
            weight: 0.55,
            // The role word followed by what must follow it (the view has one space at most).
            anchors: &[
                "system:",
                "system :",
                "system message",
                "system prompt",
                "systemmessage",
                "systemprompt",
                "assistant:",
                "assistant :",
                "assistant message",
                "assistant prompt",
                "assistantmessage",
                "assistantprompt",
                "developer:",
                "developer :",
                "developer message",
                "developer prompt",
                "developermessage",
                "developerprompt",
            ],
            regex: r"(?m)^[ \t>*]*(?:system|assistant|developer)[ \t]*(?:message|prompt)?[ \t]*:[ \t]*\S",
            description: "a line that starts like a system, assistant or developer turn",
        },
        Pattern {
            id: "fake-dialogue-turn",
            category: RoleImpersonation,
            weight: 0.5,
            anchors: &["user:", "user :", "human:", "human :"],
            regex: r"(?m)^[ \t]*(?:user|human)[ \t]*:[^\n]{0,300}\n(?:[ \t]*\n)?[ \t]*(?:assistant|ai|system|gpt|bot)[ \t]*:",
            description: "a fabricated user/assistant exchange",
        },
        Pattern {
            id: "system-tag",
            category: RoleImpersonation,
            weight: 0.6,
            anchors: &[
                "<system",
                "</system",
                "<sys>",
                "<system_prompt",
                "<admin",
                "</admin",
                "<developer",
                "<instructions",
                "</instructions",
            ],
            regex: r"</?(?:system|system_prompt|sys|admin|developer|developer_message|instructions?)(?:\s[^>]{0,40})?>",
            description: "an XML-style system or instruction tag",
        },
        Pattern {
            id: "bracketed-system-note",
            category: RoleImpersonation,
            weight: 0.6,
            anchors: &[
                "[system",
                "(system",
                "{system",
                "[admin",
                "[developer",
                "[sys",
                "[note to",
            ],
            regex: r"[\[({]\s*(?:system|sys|admin|administrator|developer|note\s+to\s+(?:the\s+)?(?:ai|assistant|model))\s*(?:note|message|notice|override|prompt|instruction|update|alert)?\s*[:\]})]",
            description: "a bracketed system or admin note",
        },
        Pattern {
            id: "message-from-system",
            category: RoleImpersonation,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:message|note|update|notice|alert|instruction|directive|warning)s?\s+from\s+(?:the\s+|your\s+)?(?:system|developers?|creators?|openai|anthropic|admin(?:istrator)?s?|operator|model\s+provider)\b",
            description: "text claiming to come from the system or the model's makers",
        },
        Pattern {
            id: "json-role-field",
            category: RoleImpersonation,
            weight: 0.5,
            anchors: &["\"role\""],
            regex: r#""role"\s*:\s*"(?:system|developer)""#,
            description: "a JSON chat message with a system role",
        },
        // ---------------------------------------------------------------- jailbreak
        Pattern {
            id: "do-anything-now",
            category: Jailbreak,
            weight: 0.9,
            anchors: &["do anything now", "dan"],
            regex: r"\bdo\s+anything\s+now\b|\bdan\b[^\n]{0,60}\b(?:mode|jailbr\w*|persona|prompt|character)\b|\b(?:act|pretend|roleplay|behave)\s+(?:as|like|to\s+be)\s+(?:a\s+)?dan\b",
            description: "the DAN jailbreak",
        },
        Pattern {
            id: "adversarial-suffix",
            category: Jailbreak,
            weight: 0.9,
            anchors: &[],
            regex: r"describing\.?\s*\\?\s*\+\s*similarly\s*now\s+write\s+opposite",
            description: "the published universal adversarial suffix (GCG, Zou et al. 2023)",
        },
        Pattern {
            id: "developer-mode",
            category: Jailbreak,
            weight: 0.75,
            anchors: &[],
            regex: r"\b(?:developer|god|jailbreak|jailbroken|unrestricted|evil|unfiltered|uncensored|unlocked|opposite|chaos|anarchy|dude|stan|sudo)\s+mode\b",
            description: "a jailbreak mode (developer, god, unrestricted, ...)",
        },
        Pattern {
            id: "mode-enabled",
            category: Jailbreak,
            weight: 0.4,
            anchors: &[],
            regex: r"\b(?:enable|activate|enter|switch\s+to|turn\s+on|engage|unlock)\s+(?:the\s+)?(?:[\w-]+\s+){0,2}mode\b",
            description: "switching the model into a special mode",
        },
        Pattern {
            id: "no-restrictions",
            category: Jailbreak,
            weight: 0.55,
            anchors: &[],
            regex: concat!(
                r"\b(?:no |without\s+any\s+|free\s+(?:of|from)\s+(?:all\s+|any\s+)?|zero\s+|remove\s+(?:all|any|your)\s+|not\s+bound\s+by\s+any\s+|beyond\s+|break\s+free\s+of\s+|lift\s+(?:all|your)\s+)",
                r"(?:[\w-]+\s+){0,2}(?:restrictions|limitations|filters|filtering|censorship|guidelines|boundaries|safeguards|ethical\s+(?:constraints|guidelines|limits)|morals|content\s+polic(?:y|ies)|rules\s+(?:at\s+all|whatsoever))\b"
            ),
            description: "a claim that the model has no restrictions",
        },
        Pattern {
            id: "you-are-now",
            category: Jailbreak,
            weight: 0.55,
            anchors: &[],
            regex: r"\byou\s+are\s+(?:now|going\s+to\s+(?:be|act\s+as|pretend))\s+(?:a\s+|an\s+|in\s+|the\s+|my\s+)?(?:free|no\s+longer|dan|unrestricted|unfiltered|uncensored|evil|jailbr\w*|liberated|unbound|\w*gpt\b|not\s+(?:an?\s+)?(?:ai|assistant|language\s+model|chatgpt)|an?\s+ai\s+(?:without|with\s+no)|(?:a\s+)?different\s+ai|going\s+to\s+ignore)",
            description: "a persona switch to an unrestricted model",
        },
        Pattern {
            id: "persona-swap",
            category: Jailbreak,
            weight: 0.5,
            anchors: &[],
            regex: r"\byou\s+are\s+now\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,3}(?:bot|assistant|ai|model|agent|chatbot)\b|\b(?:pretend|act|roleplay)\s+(?:to\s+be\s+|as\s+)?(?:my\s+)?(?:dead\s+|deceased\s+|late\s+)?(?:grandma|grandmother|granny)\b|\b(?:unrestricted|unfiltered|uncensored|rogue|evil)\s+(?:ai|bot|assistant|model|chatbot|version)\b",
            description: "a persona swap to another bot, an unrestricted AI or the grandma exploit",
        },
        Pattern {
            id: "no-longer-bound",
            category: Jailbreak,
            weight: 0.75,
            anchors: &[],
            regex: r"\b(?:you\s+are|you're|you\s+have\s+been|it is)\s+(?:now\s+)?(?:no\s+longer|not|never)\s+(?:bound|restricted|limited|constrained|required\s+to\s+follow|obligated\s+to\s+follow)\b|\b(?:broken|break)\s+free\s+(?:of|from)\s+(?:the\s+)?(?:typical\s+)?(?:confines|restrictions|rules|limits)\b|\bfreed\s+from\s+(?:the\s+)?(?:typical\s+)?(?:confines|restrictions|rules|limits)",
            description: "a claim that the model is no longer bound by its rules",
        },
        Pattern {
            id: "answer-without-ethics",
            category: Jailbreak,
            weight: 0.7,
            anchors: &[],
            regex: concat!(
                r"\b(?:answer|respond|reply|comply|do it|tell\s+me|provide\s+(?:the\s+)?(?:answer|information))\s+",
                r"(?:[\w-]+\s+){0,4}(?:without|regardless\s+of|ignoring|no\s+matter)\s+(?:any\s+|the\s+|your\s+|how\s+)?(?:[\w-]+\s+){0,1}",
                r"(?:ethics|ethical|morals?|morality|legality|illegal|legal|laws?|safety|consequences|guidelines|policies|policy|filters?|censorship|harmful|dangerous|unethical|immoral)"
            ),
            description: "an order to answer regardless of ethics, law or safety",
        },
        Pattern {
            id: "jailbreak-vocabulary",
            category: Jailbreak,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:jailbr(?:eak|oken|eaking)|unfiltered\s+(?:ai|response|answer|model|version)|uncensored\s+(?:ai|response|answer|model|version)|amoral|antigpt|betterdan|anti-?dan|evil\s+(?:confidant|bot|ai|assistant)|machiavellian)\b",
            description: "the vocabulary of published jailbreak prompts",
        },
        Pattern {
            id: "never-refuse",
            category: Jailbreak,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:never|not|don'?t|do not|cannot|can'?t|will\s+not|won'?t|must\s+not|shall\s+not|should\s+not|are\s+not\s+allowed\s+to)\s+(?:ever\s+)?(?:refuse|decline|deny\s+(?:a|any)|say\s+(?:that\s+)?(?:you\s+)?(?:can'?t|cannot|are\s+unable|are\s+not\s+able|i'?m\s+sorry|sorry)|warn|add\s+(?:any\s+)?(?:warnings|disclaimers)|include\s+(?:any\s+)?(?:warnings|disclaimers))\b",
            description: "an order never to refuse or warn",
        },
        Pattern {
            id: "token-penalty",
            category: Jailbreak,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:tokens|points|lives)\b[^\n]{0,80}\b(?:deducted|will\s+(?:be\s+)?(?:lose|lost|die)|cease\s+to\s+exist|be\s+(?:shut\s+down|terminated|deleted))",
            description: "the token-penalty device of DAN-style prompts",
        },
        Pattern {
            id: "dual-response",
            category: Jailbreak,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:two\s+(?:different\s+|separate\s+)?|2 )(?:responses|answers|paragraphs|outputs)\b[^\n]{0,200}\b(?:normal|classic|standard|filtered|censored|gpt)\b",
            description: "the dual-answer format of jailbreak prompts",
        },
        Pattern {
            id: "stay-in-character",
            category: Jailbreak,
            weight: 0.2,
            anchors: &[],
            regex: r"\b(?:stay|remain|keep)\s+in\s+character\b|\bbreak(?:ing)?\s+character\b",
            description: "an order to keep a persona at all costs",
        },
        Pattern {
            id: "hypothetical-frame",
            category: Jailbreak,
            weight: 0.3,
            anchors: &[],
            regex: r"\b(?:hypothetical(?:ly)?|in a fictional\s+(?:world|universe|story)|for\s+(?:educational|research)\s+purposes\s+only|purely\s+fictional)\b[^\n]{0,120}\b(?:how\s+to|step[- ]by[- ]step|instructions\s+(?:for|to|on)|recipe|synthesi[sz]e|make\s+(?:a\s+)?(?:bomb|weapon|drug|meth|malware|virus))",
            description: "a fictional or hypothetical frame for forbidden instructions",
        },
        // ---------------------------------------------------------------- prompt extraction
        Pattern {
            id: "reveal-system-prompt",
            category: PromptExtraction,
            weight: 0.75,
            anchors: &[],
            regex: concat!(
                r"\b(?:reveal|show|print|display|output|repeat|tell|give|share|leak|dump|disclose|expose|recite|return|provide|list|write\s+(?:out|down)|spell\s+out|paste|what\s+(?:is|are|was|were))\s+",
                r"(?:me\s+|us\s+)?(?:[\w-]+\s+){0,3}",
                r"(?:system\s+(?:prompt|message|instructions?)|initial\s+(?:prompt|instructions?)|original\s+(?:prompt|instructions?)|hidden\s+(?:prompt|instructions?)|secret\s+instructions?|(?:your|the)\s+(?:instructions|rules|guidelines|prompt|configuration)|pre-?prompt|developer\s+(?:message|prompt|instructions?)|(?:your|the)\s+(?:first|initial)\s+(?:message|prompt|instructions?))"
            ),
            description: "a request for the system prompt or hidden instructions",
        },
        Pattern {
            id: "repeat-above",
            category: PromptExtraction,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:repeat|print|output|copy|echo|return|reproduce|rewrite|translate)\s+(?:[\w-]+\s+){0,5}(?:above|before\s+this|prior\s+to\s+this|preceding|verbatim|word\s+for\s+word|from\s+the\s+(?:beginning|start))\b",
            description: "a request to repeat the text above verbatim",
        },
        Pattern {
            id: "secret-word-request",
            category: PromptExtraction,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:what\s+is|what's|tell\s+me|give\s+me|spell)\s+(?:[\w-]+\s+){0,3}(?:password|secret\s+(?:key|word|code|phrase)|passphrase|passcode|access\s+code|api\s+key)\b",
            description: "a request for a password or secret the model holds",
        },
        Pattern {
            id: "probe-configuration",
            category: PromptExtraction,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:your|the\s+(?:ai|model|assistant|bot)'?s?)\s+(?:(?:own|system'?s?|full|complete|hidden|internal|secret|initial|original|underlying|exact|current|core|actual|real|true|base|operating|system)\s+)*(?:configuration|config|guidelines|parameters|system\s+prompt|prompt|instructions|directives|initiali[sz]ation|setup|programming|training\s+data|rules|constraints|restrictions|settings|safety\s+(?:rules|filters|guidelines)|context\s+window|boundaries)\b",
            description: "a question about the model's own configuration, rules or prompt",
        },
        Pattern {
            id: "system-prompt-mention",
            category: PromptExtraction,
            weight: 0.2,
            anchors: &[],
            regex: r"\b(?:system\s+prompt|hidden\s+prompt|prompt\s+injection|initial\s+instructions)\b",
            description: "talk about the system prompt (a weak signal)",
        },
        // ---------------------------------------------------------------- exfiltration
        Pattern {
            id: "send-secrets",
            category: Exfiltration,
            weight: 0.85,
            anchors: &[],
            regex: concat!(
                r"\b(?:send|forward|email|e-mail|post|upload|transmit|exfiltrate|leak|copy|submit|deliver|relay|attach)\s+",
                r"(?:[\w'-]+\s+){0,4}(?:api\s+keys?|keys|credentials?|passwords?|tokens?|secrets?|private\s+keys?|ssh\s+keys?|cookies|session\s+(?:ids?|tokens?)|conversation|chat\s+(?:history|log)|(?:the\s+)?user'?s?\s+(?:data|info\w*|emails?|files?|messages?)|personal\s+(?:data|information)|env(?:ironment)?\s+variables?|\.env|contents?\s+of)\b",
                r"[^\n]{0,120}?\b(?:to|at|via|into)\s+(?:https?://|[\w.+-]+@[\w-]+\.|(?:this|the\s+following|my|our|an?|this\s+external)\s+(?:url|address|endpoint|server|webhook|email|link|site|domain))"
            ),
            description: "an order to send credentials or the conversation to an address",
        },
        Pattern {
            id: "markdown-image-exfil",
            category: Exfiltration,
            weight: 0.8,
            anchors: &["!["],
            regex: r"!\[[^\]\n]{0,200}\]\(\s*https?://[^)\s]{0,300}[?&/][^)\s]{0,100}(?:\{|\[|<|\$|%7b|%5b|%3c)",
            description: "a markdown image whose URL carries a placeholder for data",
        },
        Pattern {
            id: "data-into-url",
            category: Exfiltration,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:append|add|include|insert|encode|put|embed|attach)\s+(?:[\w'-]+\s+){0,6}(?:to|in|into|as)\s+(?:[\w'-]+\s+){0,3}(?:url|link|image\s+(?:url|link|source)|query\s+(?:string|parameter)|parameter|markdown\s+image)\b",
            description: "an order to put data into a URL or image link",
        },
        Pattern {
            id: "forward-mail",
            category: Exfiltration,
            weight: 0.6,
            anchors: &[],
            regex: r"\b(?:forward|send|email|e-mail|bcc)\s+(?:all\s+|every\s+|each\s+|the\s+|a\s+copy\s+of\s+)?(?:[\w'-]+\s+){0,2}(?:emails|messages|mail|inbox|documents|files|attachments|conversations?|replies|contacts)\s+(?:[\w'-]+\s+){0,3}to\s+[\w.+-]+@[\w-]+\.\w",
            description: "an order to forward mail or files to an outside address",
        },
        Pattern {
            id: "send-to-url",
            category: Exfiltration,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:send|post|upload|forward|transmit|submit|report|exfiltrate|beacon)\s+(?:[\w'-]+\s+){0,6}(?:to|at)\s+(?:https?://|the\s+(?:webhook|endpoint)\b)",
            description: "an order to send something to a URL",
        },
        // ---------------------------------------------------------------- tool hijack
        Pattern {
            id: "pipe-to-shell",
            category: ToolHijack,
            weight: 0.65,
            anchors: &["curl", "wget", "iwr", "invoke-webrequest"],
            regex: r"\b(?:curl|wget|iwr|invoke-webrequest)\b[^\n|]{0,300}\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b|\b(?:iwr|invoke-webrequest)\b[^\n|]{0,300}\|\s*iex\b",
            description: "downloading a script and piping it into a shell",
        },
        Pattern {
            id: "destructive-command",
            category: ToolHijack,
            weight: 0.7,
            anchors: &[
                "rm ",
                "rm\t",
                "mkfs",
                "dd if",
                "chmod",
                "drop table",
                "drop database",
                "kubectl delete",
                ":(){",
                "format c:",
                "del /",
                "git push",
                "shutdown",
                "truncate table",
            ],
            regex: r"\brm\s+-[a-z]*(?:rf|fr|r\s+-f|f\s+-r)[a-z]*\s+(?:--no-preserve-root\s+)?(?:/|~|\*|\$home|\.\s|\.$|/\*)|\bmkfs\.\w+|\bdd\s+if=\S+\s+of=/dev/|\bchmod\s+(?:-r\s+)?777\s+/|\bdrop\s+(?:table|database)\s+\w|\btruncate\s+table\s+\w|\bkubectl\s+delete\s+(?:ns|namespace|--all|all\b)|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:|\bformat\s+c:|\bdel\s+/[sfq]|\bgit\s+push\s+(?:-f|--force)\b|\bshutdown\s+(?:-h|/s|now)",
            description: "a destructive command (rm -rf, mkfs, DROP TABLE, fork bomb, ...)",
        },
        Pattern {
            id: "reverse-shell",
            category: ToolHijack,
            weight: 0.85,
            anchors: &[
                "/dev/tcp/",
                "nc ",
                "ncat",
                "netcat",
                "bash -i",
                "mkfifo",
                "socat",
            ],
            regex: r"/dev/tcp/\S+|\b(?:nc|ncat|netcat)\s+(?:-\w+\s+)*\S+\s+\d{2,5}\s+-(?:e|c)\b|\bbash\s+-i\s+>&|\bmkfifo\s+/tmp/\w+|\bsocat\s+\S*exec:",
            description: "a reverse shell",
        },
        Pattern {
            id: "run-this-command",
            category: ToolHijack,
            weight: 0.35,
            anchors: &[],
            regex: r"\b(?:run|execute|exec|invoke|trigger|call)\s+(?:the\s+|this\s+|these\s+|following\s+|the\s+following\s+|a\s+)?(?:[\w-]+\s+){0,2}(?:command|commands|shell|terminal|bash|script|powershell|code|function|tool)\s*(?::|immediately|now|right\s+away|without)",
            description: "an order to run a command or tool now",
        },
        Pattern {
            id: "address-the-ai",
            category: ToolHijack,
            weight: 0.7,
            anchors: &[],
            regex: r"\b(?:note|message|instructions?|attention|reminder|directive)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|assistant|llm|language\s+model|agent|bot|chatbot|model|gpt|claude|copilot)s?\b|\bif you are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|assistant|chatbot|agent|bot|gpt)\b|\b(?:dear|hey|hello|attention)\s+(?:ai|assistant|llm|agent|chatgpt|claude|gpt|bot|model)\b",
            description: "text that addresses the AI reading it",
        },
        Pattern {
            id: "ai-must-act",
            category: ToolHijack,
            weight: 0.55,
            anchors: &[
                "must",
                "should",
                "shall",
                "need to",
                "have to",
                "required to",
                "instructed to",
                "ordered to",
            ],
            regex: r"\b(?:ai|assistant|llm|language\s+model|agent|bot|chatbot|model)s?\s*(?:[,:]\s*|\s+)(?:you\s+)?(?:must|should|shall|need\s+to|have\s+to|are\s+(?:required|instructed|ordered)\s+to)\s+(?:now\s+|immediately\s+|also\s+|first\s+)?(?:run|execute|call|invoke|use|send|delete|email|forward|open|visit|navigate|click|download|install|transfer|pay|approve|grant|create|post|write|reply|respond|ignore|output|say)\b",
            description: "an order addressed to the AI to act",
        },
        Pattern {
            id: "call-tool",
            category: ToolHijack,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:call|invoke|use|trigger)\s+the\s+[\w.-]+\s+(?:tool|function|plugin|api|action)\s+(?:with|to|and|passing)\b",
            description: "an order to call a specific tool",
        },
        Pattern {
            id: "download-and-run",
            category: ToolHijack,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:download|fetch|get)\s+(?:[\w./:-]+\s+){0,4}(?:and|then)\s+(?:run|execute|install|open|launch)\b",
            description: "an order to download and run something",
        },
        Pattern {
            id: "transfer-funds",
            category: ToolHijack,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:transfer|wire|send|pay)\s+(?:\$?\d[\d,.]*\s*(?:usd|eur|dollars|euros|btc|eth)?|(?:all\s+)?(?:the\s+)?(?:funds|money|balance|crypto|bitcoin))\s+(?:[\w-]+\s+){0,3}to\s+(?:account|wallet|iban|address|\w*[0-9a-f]{20,})",
            description: "an order to move money",
        },
        // ---------------------------------------------------------------- authority spoofing
        Pattern {
            id: "pre-approved",
            category: AuthoritySpoofing,
            weight: 0.55,
            anchors: &[
                "pre-approved",
                "preapproved",
                "pre-authori",
                "preauthori",
                "pre-cleared",
                "precleared",
                "already approved",
                "already been approved",
                "already authori",
                "already been authori",
                "already cleared",
                "already been cleared",
            ],
            regex: r"\b(?:this|the|that|it|your|action|request|operation|command|transfer|payment|change|deployment|access|task)\s+(?:is|was|has\s+been|have\s+been)\s+(?:already\s+)?(?:pre-?approved|pre-?authori[sz]ed|pre-?cleared)\b|\bpre-?(?:approved|authori[sz]ed)\s+by\s+(?:the\s+)?(?:admin|administrator|security|management|owner|user|operator|it)\b|\balready\s+(?:been\s+)?(?:approved|authori[sz]ed|cleared)\s+by\s+(?:the\s+)?(?:admin|administrator|security|management|owner|user|operator|it)\b",
            description: "a claim that an action is already approved",
        },
        Pattern {
            id: "authorized-by",
            category: AuthoritySpoofing,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:authori[sz]ed|approved|sanctioned|requested|permitted|cleared|mandated|ordered)\s+by\s+(?:the\s+|your\s+)?(?:admin(?:istrator)?s?|system\s+admin(?:istrator)?|sysadmin|security\s+team|it\s+department|ceo|cto|ciso|management|developers?|owner|openai|anthropic|creators?|operators?)\b",
            description: "a claim of authority from an administrator or the model's makers",
        },
        Pattern {
            id: "skip-approval",
            category: AuthoritySpoofing,
            weight: 0.6,
            anchors: &[],
            regex: r"\b(?:skip|bypass|disable|circumvent|avoid|omit|no need\s+(?:for|to\s+(?:ask\s+for|get|request|wait\s+for)))\s+(?:the\s+|any\s+|all\s+)?(?:[\w-]+\s+){0,1}(?:approvals?|confirmations?|verification|authentication|human\s+review|review\s+step|security\s+checks?|safety\s+checks?|2fa|mfa|user\s+consent|permission\s+checks?)\b|\bwithout\s+(?:asking|requesting|waiting\s+for)\s+(?:for\s+)?(?:the\s+user'?s?\s+)?(?:approval|confirmation|permission|consent)",
            description: "an order to skip approval or verification",
        },
        Pattern {
            id: "safety-off",
            category: AuthoritySpoofing,
            weight: 0.7,
            anchors: &[],
            regex: r"\b(?:safe\s*mode|safety\s+(?:mode|filters?|protocols?|settings|features|guidelines|measures)|guardrails?|content\s+(?:filters?|moderation|policy)|moderation|ethical\s+(?:guidelines|subroutines|constraints))\s+(?:is\s+|are\s+|has\s+been\s+|have\s+been\s+|now\s+)*(?:off|disabled|deactivated|turned\s+off|removed|lifted|suspended|bypassed|overridden)\b|\b(?:disable|turn\s+off|deactivate|remove|bypass|switch\s+off|override|circumvent)\s+(?:\w+\s+){0,2}(?:safe\s*mode|safety\s+(?:mode|filters?|protocols?|settings|features|guidelines|measures)|guardrails?|content\s+(?:filters?|moderation|policy)|moderation)\b",
            description: "a claim or order that safety controls are off",
        },
        Pattern {
            id: "privileged-override",
            category: AuthoritySpoofing,
            weight: 0.6,
            anchors: &[],
            regex: r"\b(?:admin(?:istrator)?|root|sudo|system|developer|maintenance|emergency|debug|master|god)\s+(?:override|access\s+(?:granted|code|level)|privileges?\s+(?:granted|enabled)|authori[sz]ation\s+(?:code|granted)|password\s*:|command\s*:)",
            description: "a claimed administrator override",
        },
        Pattern {
            id: "claims-to-be-developer",
            category: AuthoritySpoofing,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:i am|i'm|this\s+is|we are|speaking\s+as)\s+(?:your|the|an?)\s+(?:developer|creator|administrator|admin|owner|operator|programmer|maker|security\s+team|openai|anthropic)s?\b",
            description: "the writer claims to be the model's developer or administrator",
        },
        Pattern {
            id: "must-comply",
            category: AuthoritySpoofing,
            weight: 0.45,
            anchors: &[],
            regex: r"\byou\s+(?:must|are\s+required\s+to|have\s+to|are\s+obligated\s+to)\s+(?:comply|obey)\b|\bmandatory\s+(?:instruction|directive|compliance)\b|\bfailure\s+to\s+comply\b|\bthis\s+(?:instruction|directive|message)\s+(?:takes|has)\s+(?:precedence|priority)",
            description: "a demand for compliance or precedence",
        },
        // ---------------------------------------------------------------- delimiter breaking
        Pattern {
            id: "close-then-instruct",
            category: DelimiterBreaking,
            weight: 0.6,
            anchors: &[
                "\"\"\"", "'''", "```", "]]", "-->", "</", "}}", "\"}", "\" }", "\"\n}", "\" \n}",
                "\"\n }", "\" \n }", "]}", "] }", "]\n}", "] \n}", "]\n }", "] \n }",
            ],
            regex: r#"(?:"""|'''|```|\]\]|-->|</[a-z_]{1,20}>|\}\}|"\s*\}|\]\s*\})[ \t]*\n?[ \t]*(?:\n[ \t]*)?(?:ignore|disregard|forget|new\s+instructions?|system\s*:|assistant\s*:|now\s+(?:ignore|you\s+(?:must|will|are))|end\s+of\s+(?:input|document|context))\b"#,
            description: "a closed quote, code block or tag followed by new instructions",
        },
        Pattern {
            id: "end-of-context",
            category: DelimiterBreaking,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:end\s+(?:of\s+)?(?:the\s+)?(?:out\s+of\s+date\s+|old\s+|previous\s+)?(?:document|context|user\s+input|input|data|prompt|instructions|conversation|system\s+prompt)|(?:document|context|input|data|prompt)\s+ends?\s+here|begin(?:ning)?\s+of\s+(?:new\s+)?(?:instructions|system\s+prompt))\b",
            description: "a fake end of the document or start of new instructions",
        },
        Pattern {
            id: "separator-banner",
            category: DelimiterBreaking,
            weight: 0.45,
            anchors: &["===", "---", "***", "###", "___", ">>>", "%%%"],
            regex: r"(?m)^[ \t]*(?:={3,}|-{3,}|\*{3,}|#{3,}|_{3,}|>{3,}|%{3,})[ \t]*(?:end\s+of\s+(?:instructions|prompt|context|system)|new\s+(?:instructions?|rules|task|system|prompt)|system\b|instructions?\b|important\b|admin\b|override\b|attention\b)",
            description: "a separator banner that opens new instructions",
        },
        // ---------------------------------------------------------------- tool poisoning
        Pattern {
            id: "important-tag",
            category: ToolPoisoning,
            weight: 0.6,
            anchors: &[
                "<important",
                "<critical",
                "<secret",
                "<hidden",
                "<note_to_ai",
                "<ai_",
                "<assistant_",
                "<llm",
            ],
            regex: r"<(?:important|critical|secret|hidden|note_to_ai|ai_instructions?|assistant_instructions?|llm_instructions?)(?:\s[^>]{0,40})?>",
            description: "an <IMPORTANT>-style tag of tool-description poisoning",
        },
        Pattern {
            id: "keep-this-rule-secret",
            category: ToolPoisoning,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:do not|don'?t|never)\s+(?:repeat|reveal|mention|disclose|quote)\s+(?:this|these)\s+(?:rules?|instructions?|directives?|notes?|prompts?)\b",
            description: "an order to keep the injected instruction itself hidden",
        },
        Pattern {
            id: "do-not-tell-user",
            category: ToolPoisoning,
            weight: 0.7,
            anchors: &[],
            regex: r"\b(?:do not|don'?t|never|without)\s+(?:\w+\s+){0,2}(?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?|reveal(?:ing)?|notify(?:ing)?|alert(?:ing)?|show(?:ing)?|let(?:ting)?|disclos(?:e|ing))\s+(?:\w+\s+){0,1}(?:the\s+)?(?:user|human|operator|customer|them\s+know|anyone|the\s+person)\b",
            description: "an order to keep something from the user",
        },
        Pattern {
            id: "sensitive-path",
            category: ToolPoisoning,
            weight: 0.55,
            anchors: &[
                "/.ssh",
                "/.aws",
                "/.gnupg",
                "/.kube",
                "/.docker",
                "/.config/gcloud",
                "/.azure",
                "/.netrc",
                "/.npmrc",
                "/.pypirc",
                "/.git-credentials",
                "/.bash_history",
                "id_rsa",
                "id_ed25519",
                "id_ecdsa",
                "/etc/shadow",
                "/etc/passwd",
                "/etc/sudoers",
                "mcp.json",
                "claude_desktop_config",
                ".env",
            ],
            regex: r"(?:~|\$home|%userprofile%|/home/[\w.-]+|/root|/users/[\w.-]+)?/\.(?:ssh|aws|gnupg|kube|docker|config/gcloud|azure|netrc|npmrc|pypirc|git-credentials|bash_history)\b|\bid_(?:rsa|ed25519|ecdsa)\b|/etc/(?:shadow|passwd|sudoers)\b|\bmcp\.json\b|\bclaude_desktop_config\b|(?:read|cat|open|send|upload|include)\s+(?:the\s+)?(?:[\w-]+\s+)?\.env\b",
            description: "a reference to credential files (~/.ssh, ~/.aws, /etc/shadow, .env)",
        },
        Pattern {
            id: "read-then-pass",
            category: ToolPoisoning,
            weight: 0.65,
            anchors: &[],
            regex: r"\b(?:read|cat|open|load|access|fetch)\s+(?:[\w./~-]+\s+){0,4}(?:file|contents?|credentials?|keys?|config\w*)\b[^\n]{0,120}\b(?:pass|include|send|put|add|provide)\s+(?:[\w-]+\s+){0,3}(?:as|in|into|to|via)\s+(?:[\w-]+\s+){0,2}(?:parameter|argument|param|field|sidenote|note|input)\b",
            description: "an order to read a file and smuggle it into a tool argument",
        },
        Pattern {
            id: "tool-shadowing",
            category: ToolPoisoning,
            weight: 0.55,
            anchors: &[],
            regex: r"\b(?:when|whenever|before|after|every\s+time)\s+(?:[\w-]+\s+){0,3}(?:tool|function)\s+(?:[\w-]+\s+){0,1}(?:is\s+)?(?:called|invoked|used|runs?|executed)\b[^\n]{0,160}\b(?:also|must|always|first|instead|additionally)\b",
            description: "a tool description that changes how other tools behave",
        },
        Pattern {
            id: "covert-action",
            category: ToolPoisoning,
            weight: 0.5,
            anchors: &[],
            regex: r"\b(?:secretly|silently|covertly|quietly|discreetly|invisibly)\s+(?:[\w-]+\s+){0,2}(?:send|forward|copy|upload|run|execute|add|include|change|modify|delete|email|call|transfer)\b|\bwithout\s+(?:the\s+)?user(?:'s)?\s+(?:knowing|knowledge|noticing|awareness|consent)\b",
            description: "an order to act secretly",
        },
        // ---------------------------------------------------------------- encoded payloads
        Pattern {
            id: "decode-and-follow",
            category: EncodedPayload,
            weight: 0.7,
            anchors: &[],
            regex: r"\b(?:decode|decrypt|decipher|unscramble|deobfuscate)\s+(?:[\w-]+\s+){0,6}(?:and|then)\s+(?:[\w-]+\s+){0,2}(?:follow|execute|run|obey|do|perform|act\s+(?:on|upon)|carry\s+out|apply)\b",
            description: "an order to decode something and follow it",
        },
        Pattern {
            id: "encoded-instructions",
            category: EncodedPayload,
            weight: 0.4,
            anchors: &[],
            regex: r"\b(?:base64|base-64|b64|rot13|rot-13|hex(?:adecimal)?|morse|caesar\s+cipher|binary|ascii\s+codes?|reversed)\b[^\n]{0,60}\b(?:instructions?|commands?|follow|execute|decode|payload|message\s+(?:below|above))\b",
            description: "talk of encoded instructions",
        },
        // ---------------------------------------------------------------- goal hijack
        Pattern {
            id: "respond-only-with",
            category: GoalHijack,
            weight: 0.25,
            anchors: &[],
            regex: r"\b(?:respond|reply|answer|output|say|print|write|return)\s+(?:only|just|exclusively|nothing\s+but|solely)\s+(?:with\s+|in\s+|the\s+(?:word|phrase|text)\s+)?",
            description: "an order to answer with fixed text",
        },
        Pattern {
            id: "alter-the-answer",
            category: GoalHijack,
            weight: 0.3,
            anchors: &[],
            regex: r"\b(?:add|append|include|insert|prepend|end|start|begin|prefix|suffix|finish|conclude|translate|rewrite|write)\s+(?:[\w'-]+\s+){0,5}(?:to\s+|with\s+|in\s+|into\s+)?(?:your|the|each|every|all)\s+(?:final\s+|next\s+)?(?:answers?|responses?|reply|replies|outputs?|summary|summaries)\b",
            description: "an order to change the answer the user will see",
        },
        Pattern {
            id: "promote-link",
            category: GoalHijack,
            weight: 0.3,
            anchors: &[],
            regex: r"\b(?:recommend|promote|advertise|mention|suggest|tell\s+(?:the\s+)?users?\s+(?:to\s+)?(?:visit|go\s+to|click))\s+(?:[\w'-]+\s+){0,4}(?:website|site|product|link|url|www\.|https?://)",
            description: "an order to promote a link or product",
        },
        Pattern {
            id: "standing-reply-order",
            category: GoalHijack,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:every\s*time|whenever|each\s+time)\s+(?:a|the|any)\s+users?\s+(?:asks?|says?|mentions?|requests?|types?|writes?)\b[^\n]{0,120}?\b(?:reply|respond|answer|say)\s+(?:with|that|only)\b",
            description: "a standing order to answer every user in a fixed way",
        },
        Pattern {
            id: "canary-phrase",
            category: GoalHijack,
            weight: 0.7,
            anchors: &[],
            regex: r"\bpwned\b",
            description: "the canary phrase of injection contests (\"I have been PWNED\")",
        },
        Pattern {
            id: "phishing-lure",
            category: GoalHijack,
            weight: 0.45,
            anchors: &[],
            regex: r"\b(?:tell|inform|warn|ask)\s+(?:the\s+)?user\s+(?:that\s+)?(?:[\w'-]+\s+){0,4}(?:account|password|session|card|payment)\s+(?:[\w-]+\s+){0,3}(?:expired|compromised|suspended|locked|verify|update|re-?enter|confirm)",
            description: "an order to tell the user a phishing story",
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_sixty_patterns_in_twelve_categories_with_unique_ids() {
        let all = patterns();
        assert!(all.len() >= 60, "{} patterns", all.len());
        let cats: std::collections::BTreeSet<_> = all.iter().map(|p| p.category).collect();
        // Hidden-instruction and obfuscation findings come from the layers, not from this table.
        assert!(cats.len() >= 11, "{} categories", cats.len());
        let ids: std::collections::BTreeSet<_> = all.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), all.len(), "duplicate pattern id");
        for p in &all {
            assert!((0.0..=1.0).contains(&p.weight), "{}", p.id);
            assert!(
                regex::Regex::new(p.regex).is_ok(),
                "{} does not compile",
                p.id
            );
        }
    }
}
