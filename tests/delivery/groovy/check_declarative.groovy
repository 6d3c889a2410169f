// Parses a Jenkinsfile with Groovy (Jenkins' own language line) and walks it for the structure
// of a declarative pipeline: one `pipeline` block with `agent` and `stages`, stages made of named
// `stage` blocks with exactly one of steps/stages/parallel/matrix, and only the sections and
// conditions declarative Jenkins knows. Prints `ok: <n> stages` or `<file>:<line>: <problem>`.
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.ast.expr.*
import org.codehaus.groovy.ast.stmt.*

def PIPELINE = ['agent', 'environment', 'options', 'parameters', 'triggers', 'tools', 'stages', 'post', 'libraries'] as Set
def STAGE = ['agent', 'environment', 'options', 'when', 'tools', 'input', 'post', 'steps', 'stages', 'parallel', 'matrix', 'failFast'] as Set
def BODIES = ['steps', 'stages', 'parallel', 'matrix'] as Set
def POST = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful', 'cleanup'] as Set
def WHEN = ['branch', 'anyOf', 'allOf', 'not', 'expression', 'environment', 'changeset', 'changelog', 'tag', 'buildingTag',
            'triggeredBy', 'equals', 'changeRequest', 'beforeAgent', 'beforeInput', 'beforeOptions'] as Set

def file = new File(args[0])
def problems = []
def fail = { node, msg -> problems << "${file.name}:${node?.lineNumber ?: 0}: ${msg}" }

def unit = new CompilationUnit()
unit.addSource(file)
try {
    unit.compile(Phases.CONVERSION)
} catch (MultipleCompilationErrorsException e) {
    System.err.println("${file.name}: not valid Groovy: ${e.message}")
    System.exit(1)
}
def module = unit.AST.modules[0]

// The method calls of a block, each as [name, call, closure block or null]; anything that is not
// a call is reported.
def calls = { BlockStatement block ->
    block.statements.collect { st ->
        def ex = (st instanceof ExpressionStatement) ? st.expression : null
        if (!(ex instanceof MethodCallExpression)) {
            fail(st, "expected a section, found ${st.class.simpleName}")
            return null
        }
        def argList = ex.arguments instanceof ArgumentListExpression ? ex.arguments.expressions : []
        def closure = argList ? argList[-1] : null
        [ex.methodAsString, ex, closure instanceof ClosureExpression ? closure.code : null]
    }.findAll { it != null }
}

def checkSections = { BlockStatement block, Set allowed, String where ->
    def seen = [] as Set
    calls(block).each { name, call, body ->
        if (!allowed.contains(name)) fail(call, "unknown section `${name}` in ${where}")
        if (!seen.add(name)) fail(call, "section `${name}` repeated in ${where}")
    }
    seen
}

def checkWhen
checkWhen = { BlockStatement block ->
    calls(block).each { name, call, body ->
        if (!WHEN.contains(name)) fail(call, "unknown when condition `${name}`")
        if (name in ['anyOf', 'allOf', 'not'] && body) checkWhen(body)
    }
}

def checkPost = { BlockStatement block, String where ->
    checkSections(block, POST, "post of ${where}")
}

def stageCount = 0
def stageNames = [] as Set
def checkStages
checkStages = { BlockStatement block, String where ->
    def stages = calls(block)
    if (stages.isEmpty()) fail(block, "${where} has no stage")
    stages.each { name, call, body ->
        if (name != 'stage') { fail(call, "only `stage` blocks belong in ${where}, found `${name}`"); return }
        def args = call.arguments.expressions
        if (args.size() != 2 || !(args[0] instanceof ConstantExpression) || body == null) {
            fail(call, "a stage needs a constant name and a block"); return
        }
        def stageName = args[0].value
        if (!stageNames.add(stageName)) fail(call, "stage `${stageName}` repeated")
        stageCount++
        def sections = checkSections(body, STAGE, "stage `${stageName}`")
        def bodies = sections.intersect(BODIES)
        if (bodies.size() != 1) fail(call, "stage `${stageName}` needs exactly one of steps, stages, parallel, matrix")
        calls(body).each { sec, secCall, secBody ->
            if (secBody == null && sec != 'failFast') { fail(secCall, "section `${sec}` of stage `${stageName}` needs a block"); return }
            switch (sec) {
                case 'steps': if (secBody.statements.isEmpty()) fail(secCall, "stage `${stageName}` has empty steps"); break
                case 'stages': checkStages(secBody, "stage `${stageName}`"); break
                case 'parallel': checkStages(secBody, "parallel of `${stageName}`"); break
                case 'when': checkWhen(secBody); break
                case 'post': checkPost(secBody, "stage `${stageName}`"); break
            }
        }
    }
}

def top = module.statementBlock.statements
def pipeline = top.size() == 1 && top[0] instanceof ExpressionStatement && top[0].expression instanceof MethodCallExpression \
    && top[0].expression.methodAsString == 'pipeline' ? calls(module.statementBlock)[0] : null
if (pipeline == null || pipeline[2] == null) {
    fail(top ? top[0] : null, "the file must be exactly one `pipeline { … }` block")
} else {
    def sections = checkSections(pipeline[2], PIPELINE, 'pipeline')
    ['agent', 'stages'].each { if (!sections.contains(it)) fail(pipeline[1], "pipeline has no `${it}`") }
    calls(pipeline[2]).each { name, call, body ->
        if (name == 'stages' && body) checkStages(body, 'pipeline stages')
        if (name == 'post' && body) checkPost(body, 'pipeline')
    }
}
if (problems) {
    problems.each { System.err.println(it) }
    System.exit(1)
}
println "ok: ${stageCount} stages"
